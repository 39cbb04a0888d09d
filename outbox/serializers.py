from core.api.fields import RenamedModelSerializer

from .models import EventOutbox


class OutboxRowSerializer(RenamedModelSerializer):
    """An outbox row as the admin API shows it (camelCase; times ISO 8601 UTC; read-only)."""

    class Meta:
        model = EventOutbox
        fields = ["id", "channel", "group", "payload", "requestId", "status", "attempts", "nextAttemptAt",
                  "lastError", "sentAt", "createdAt"]
        read_only_fields = fields
        renamed = {"requestId": "request_id", "nextAttemptAt": "next_attempt_at", "lastError": "last_error",
                   "sentAt": "sent_at", "createdAt": "created_at"}
