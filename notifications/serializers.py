"""Notification API shapes (camelCase)."""
from django.core.validators import RegexValidator
from rest_framework import serializers

from .models import Device, DevicePlatform, Notification, NotificationPreference

E164 = RegexValidator(r"^\+[1-9]\d{6,14}$", "A phone number in E.164 form, e.g. +919812345678.")


class NotificationSerializer(serializers.ModelSerializer):
    """docs/notifications.md: templateKey, channel, status, data, createdAt (plus id and sentAt)."""

    templateKey = serializers.CharField(source="template_key")
    data = serializers.JSONField(source="payload")
    sentAt = serializers.DateTimeField(source="sent_at")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Notification
        fields = ["id", "templateKey", "channel", "status", "data", "sentAt", "createdAt"]
        read_only_fields = fields


class DeviceSerializer(serializers.ModelSerializer):
    token = serializers.CharField(max_length=512)
    platform = serializers.ChoiceField(choices=DevicePlatform.choices, default=DevicePlatform.ANDROID)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Device
        fields = ["id", "token", "platform", "active", "createdAt"]
        read_only_fields = ["id", "active", "createdAt"]
        extra_kwargs = {"token": {"validators": []}}  # a known token is re-registered, not refused

    def validate_token(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()


class PreferenceSerializer(serializers.ModelSerializer):
    """{phone, phoneActive (read-only), push, sms, email}: contact number and channel opt-ins."""

    phone = serializers.CharField(max_length=20, allow_blank=True, required=False, validators=[E164])
    phoneActive = serializers.BooleanField(source="phone_active", read_only=True)
    push = serializers.BooleanField(source="push_enabled", required=False)
    sms = serializers.BooleanField(source="sms_enabled", required=False)
    email = serializers.BooleanField(source="email_enabled", required=False)

    class Meta:
        model = NotificationPreference
        fields = ["phone", "phoneActive", "push", "sms", "email"]

    def validate_phone(self, value: str) -> str:
        return value.strip()


class RetryInputSerializer(serializers.Serializer):
    """{ids: [notification ids] (1..1000)} or {stuck: true} (every row stuck in sending)."""

    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000,
                                required=False)
    stuck = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if not attrs.get("ids") and not attrs.get("stuck"):
            raise serializers.ValidationError("Give ids or stuck: true.")
        return attrs


class RetryOutputSerializer(serializers.Serializer):
    """{retried: [ids put back to queued]}."""

    retried = serializers.ListField(child=serializers.IntegerField())
