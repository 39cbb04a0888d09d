"""Notifications sent to users (push, SMS, email), one row per delivery attempt target."""
from django.conf import settings
from django.db import models


class NotificationChannel(models.TextChoices):
    PUSH = "push", "Push"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """A message for a user by template key and channel. `dedupe_key` is unique, so a task
    delivered twice records (and sends) one notification."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    template_key = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, choices=NotificationChannel.choices, default=NotificationChannel.PUSH)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    dedupe_key = models.CharField(max_length=200, unique=True)
    error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"], name="notification_user_idx")]

    def __str__(self) -> str:
        return f"{self.template_key} -> {self.user_id} ({self.channel}, {self.status})"
