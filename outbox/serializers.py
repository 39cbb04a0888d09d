from rest_framework import serializers

from .models import EventOutbox


class OutboxRowSerializer(serializers.ModelSerializer):
    """An outbox row as the admin API shows it (camelCase; times ISO 8601 UTC)."""

    requestId = serializers.CharField(source="request_id")
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at")
    lastError = serializers.CharField(source="last_error")
    sentAt = serializers.DateTimeField(source="sent_at")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = EventOutbox
        fields = ["id", "channel", "group", "payload", "requestId", "status", "attempts", "nextAttemptAt",
                  "lastError", "sentAt", "createdAt"]
        read_only_fields = fields
