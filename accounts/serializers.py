from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings

from .authentication import InvalidToken, check_not_blocked
from .models import Role
from .tokens import RefreshToken, token_decode, token_pair_for


class TokenObtainSerializer(TokenObtainPairSerializer):
    """{username, password} -> {access, refresh}; blocked users get 403 `user_blocked`."""

    def validate(self, attrs):
        super(TokenObtainPairSerializer, self).validate(attrs)  # authenticates, sets self.user
        with transaction.atomic():
            return _pair_for_locked(self.user.pk)


def _pair_for_locked(user_id) -> dict[str, str]:
    """Lock the user row, check it may hold tokens, mint {access, refresh}. Call inside
    `transaction.atomic()`; the lock is held until the caller's commit.

    A block or a demotion locks the same row and then revokes every refresh token on record
    (accounts.services): a mint either commits before (and its token is revoked) or waits and
    then sees the block (403). Without the lock a refresh could pass the block check before the
    block committed and record its token after the revocation sweep (docs/access-and-hardening.md).
    Raises InvalidToken (401: no such active user) and UserBlocked (403).
    """
    try:
        user = get_user_model().objects.select_for_update().get(pk=user_id, is_active=True)
    except (get_user_model().DoesNotExist, ValueError, TypeError) as e:
        raise InvalidToken({"detail": "User not found or inactive.", "code": "user_not_found"}) from e
    check_not_blocked(user)
    return token_pair_for(user)


class TokenRefreshSerializerDB(TokenRefreshSerializer):
    """{refresh} -> {access, refresh}; the user must still exist, be active and not blocked, and
    the new tokens carry the role from the database.

    Refresh tokens rotate (OWASP / RFC 6819 §5.2.2.3): each is good for one refresh and is
    blacklisted by it, so a stolen refresh token stops working as soon as either party uses it,
    and its reuse is refused (401). Two concurrent refreshes with one token: one wins.

    Order of checks: signature, algorithm and expiry (401) -> user exists and is active (401) ->
    not blocked (403 `user_blocked`, as on every API call) -> token not blacklisted (401; a block
    blacklists the user's refresh tokens, so after the block ends the user signs in again).
    """

    token_class = RefreshToken

    def validate(self, attrs):
        try:
            payload = token_decode(attrs["refresh"])  # 401 on anything wrong
        except TokenBackendError as e:
            raise InvalidToken({"detail": str(e), "code": "token_not_valid"}) from e
        with transaction.atomic():
            # The user row lock first (see _pair_for_locked): a block waits for this refresh, or
            # this refresh waits for the block and is refused.
            pair = _pair_for_locked(payload.get(api_settings.USER_ID_CLAIM))  # 401 / 403 user_blocked
            try:
                refresh = self.token_class(attrs["refresh"])  # type, jti, blacklist
            except TokenError as e:
                raise InvalidToken({"detail": str(e), "code": "token_not_valid"}) from e
            if str(refresh[api_settings.USER_ID_CLAIM]) != str(payload.get(api_settings.USER_ID_CLAIM)):
                raise InvalidToken({"detail": "Token is invalid.", "code": "token_not_valid"})
            _, first_use = refresh.blacklist()
            if not first_use:
                raise InvalidToken({"detail": "Token is blacklisted", "code": "token_not_valid"})
            return pair


class MeSerializer(serializers.ModelSerializer):
    blockedAt = serializers.DateTimeField(source="blocked_at", read_only=True)
    blockUntil = serializers.DateTimeField(source="block_until", read_only=True)
    blockReason = serializers.CharField(source="block_reason", read_only=True)

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "role", "blockedAt", "blockUntil", "blockReason"]
        read_only_fields = fields


class AdminUserSerializer(MeSerializer):
    """A user as admins see it after a block, unblock or role change."""

    isActive = serializers.BooleanField(source="is_active", read_only=True)

    class Meta(MeSerializer.Meta):
        fields = [*MeSerializer.Meta.fields, "isActive"]
        read_only_fields = fields


class BlockInputSerializer(serializers.Serializer):
    """{reason (1..500 chars), until (ISO 8601 with offset, future) | days (1..3650), replace?};
    neither until nor days = indefinite; `replace: true` replaces a block in force (else 409)."""

    reason = serializers.CharField(max_length=500, trim_whitespace=True)
    until = serializers.DateTimeField(required=False, allow_null=True)
    days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650)
    replace = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if attrs.get("until") and attrs.get("days"):
            raise serializers.ValidationError({"until": "Give until or days, not both."})
        return attrs


class UnblockInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
