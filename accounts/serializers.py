from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings

from .authentication import InvalidToken, check_not_blocked
from .tokens import RefreshToken, token_pair_for


class TokenObtainSerializer(TokenObtainPairSerializer):
    """{username, password} -> {access, refresh}; blocked users get 403 `user_blocked`."""

    def validate(self, attrs):
        super(TokenObtainPairSerializer, self).validate(attrs)  # authenticates, sets self.user
        check_not_blocked(self.user)
        return token_pair_for(self.user)


class TokenRefreshSerializerDB(TokenRefreshSerializer):
    """{refresh} -> {access}; the user must still exist, be active and not blocked, and the new
    access token carries the role from the database."""

    token_class = RefreshToken

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        try:
            user = get_user_model().objects.get(pk=refresh[api_settings.USER_ID_CLAIM], is_active=True)
        except (get_user_model().DoesNotExist, ValueError, TypeError) as e:
            raise InvalidToken({"detail": "User not found or inactive.", "code": "user_not_found"}) from e
        check_not_blocked(user)
        refresh["role"] = user.role
        access = refresh.access_token
        access["role"] = user.role
        return {"access": str(access)}


class MeSerializer(serializers.ModelSerializer):
    blockedAt = serializers.DateTimeField(source="blocked_at", read_only=True)
    blockUntil = serializers.DateTimeField(source="block_until", read_only=True)
    blockReason = serializers.CharField(source="block_reason", read_only=True)

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "role", "blockedAt", "blockUntil", "blockReason"]
        read_only_fields = fields
