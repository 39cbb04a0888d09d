"""The audit log: one row for every state-changing admin or moderator action (seed schema)."""
from django.conf import settings
from django.db import models


class ImmutableError(Exception):
    """Raised on any attempt to change or delete an audit row through the app."""


class AuditLogQuerySet(models.QuerySet):
    """Bulk update and delete are refused: the audit log is append-only (docs/access-and-hardening.md)."""

    def update(self, **kwargs):
        raise ImmutableError("Audit log rows cannot be changed.")

    def delete(self):
        raise ImmutableError("Audit log rows cannot be deleted.")

    _raw_delete = delete


class AuditLog(models.Model):
    """Who did what to which entity, when, from where, within which request.

    Written by services in the same transaction as the change (`audit.services.audit_record`);
    never edited or deleted: `save()` of an existing row, `delete()` and bulk update/delete raise
    `ImmutableError`; the admin is read-only; under them the database rejects UPDATE and DELETE
    from any client (the base manager, a plain QuerySet, raw SQL): a trigger on PostgreSQL
    (migration 0002) and triggers on SQLite (migration 0003).
    """

    objects = AuditLogQuerySet.as_manager()

    action = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audit_logs")
    reason = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["entity_type", "entity_id"]),
            models.Index(fields=["user"]),
            models.Index(fields=["action"]),
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ImmutableError("Audit log rows cannot be changed.")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError("Audit log rows cannot be deleted.")

    def __str__(self) -> str:
        return f"{self.action} {self.entity_type}:{self.entity_id} by {self.user_id}"
