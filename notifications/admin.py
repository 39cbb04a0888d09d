"""Notifications in Django admin: read-only logs; admins may retry failed notifications."""
from django.contrib import admin, messages

from core.admin_roles import ReadOnlyAdmin

from . import services
from .models import Device, Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "template_key", "channel", "status", "attempts", "sent_at", "created_at")
    list_filter = ("status", "channel", "template_key")
    search_fields = ("dedupe_key", "user__username")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["retry_failed"]

    @admin.action(description="Retry the selected failed (or stuck sending) notifications")
    def retry_failed(self, request, queryset):
        if not getattr(request.user, "is_admin", False):
            self.message_user(request, "Only admins may retry notifications.", messages.ERROR)
            return
        ids = services.notifications_retry(notification_ids=list(queryset.values_list("pk", flat=True)),
                                           actor=request.user)
        self.message_user(request, f"Requeued {len(ids)} notification(s).", messages.SUCCESS)


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "platform", "active", "deactivation_reason", "created_at", "last_seen_at")
    list_filter = ("active", "platform")
    search_fields = ("user__username", "token")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in Device._meta.fields]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("user", "phone", "phone_active", "push_enabled", "sms_enabled", "email_enabled", "updated_at")
    list_filter = ("phone_active", "push_enabled", "sms_enabled", "email_enabled")
    search_fields = ("user__username", "phone")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in NotificationPreference._meta.fields]
