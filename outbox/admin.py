from django.contrib import admin, messages

from core.admin_roles import ReadOnlyAdmin
from core.errors import ServiceError

from . import retry
from .models import EventOutbox


@admin.register(EventOutbox)
class EventOutboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "group", "status", "attempts", "next_attempt_at", "sent_at", "created_at")
    list_filter = ("status", "channel")
    search_fields = ("group", "request_id")
    readonly_fields = [f.name for f in EventOutbox._meta.fields]
    actions = ["retry_selected"]

    def has_retry_permission(self, request):
        return self.has_view_permission(request)

    @admin.action(description="Retry selected failed events", permissions=["retry"])
    def retry_selected(self, request, queryset):
        """Same service as `POST /api/admin/outbox/{id}/retry` (audited, one row at a time)."""
        done, skipped = 0, []
        for row_id in queryset.values_list("pk", flat=True):
            try:
                retry.outbox_retry(outbox_id=row_id, actor=request.user)
                done += 1
            except ServiceError as exc:
                skipped.append(f"#{row_id}: {exc.message}")
        if done:
            self.message_user(request, f"Retrying {done} event(s).", messages.SUCCESS)
        for line in skipped:
            self.message_user(request, line, messages.WARNING)
