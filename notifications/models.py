"""Notifications sent to users (push, SMS, email): one row per (event, channel), the user's
devices (FCM registration tokens) and their contact details and per-channel opt-outs."""
from django.conf import settings
from django.db import models


class NotificationChannel(models.TextChoices):
    PUSH = "push", "Push"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """A message for a user by template key and channel.

    `dedupe_key` (`<event key>:<channel>`) is unique, so an event recorded twice is one row; the
    send claims the row (queued -> sending, a guarded UPDATE) before calling the provider, so a
    task delivered twice sends once. `attempts` counts claims (1 + transient retries).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    template_key = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, choices=NotificationChannel.choices, default=NotificationChannel.PUSH)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    dedupe_key = models.CharField(max_length=200, unique=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "-id"], name="notification_user_idx"),
            models.Index(fields=["status", "channel"], name="notification_status_idx"),
            # The sweeper's scan: only the (few) rows still queued, oldest first.
            models.Index(fields=["created_at"], condition=models.Q(status="queued"), name="notification_queued_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.template_key} -> {self.user_id} ({self.channel}, {self.status})"


class DevicePlatform(models.TextChoices):
    ANDROID = "android", "Android"
    IOS = "ios", "iOS"
    WEB = "web", "Web"


class Device(models.Model):
    """A user's app installation with its FCM registration token. Push goes to every active
    device; a token FCM reports unregistered or invalid is deactivated and never used again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    token = models.CharField(max_length=512, unique=True)
    platform = models.CharField(max_length=8, choices=DevicePlatform.choices, default=DevicePlatform.ANDROID)
    active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivation_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "active"], name="device_user_active_idx")]

    def __str__(self) -> str:
        return f"{self.platform} device of {self.user_id} ({'active' if self.active else 'inactive'})"


class NotificationPreference(models.Model):
    """A user's phone number (E.164) and per-channel opt-outs. Email goes to `User.email`.

    A missing row means the defaults: every channel on, no phone. `phone_active` is cleared
    when the SMS provider reports the number invalid or unsubscribed (STOP); setting a new
    number turns it back on.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="notification_preference")
    phone = models.CharField(max_length=20, blank=True, default="")
    phone_active = models.BooleanField(default=True)
    push_enabled = models.BooleanField(default=True)
    sms_enabled = models.BooleanField(default=True)
    email_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"notification preferences of {self.user_id}"
