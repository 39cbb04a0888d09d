from django.contrib import admin, messages

from core.admin_actions import run_each
from core.admin_roles import ReadOnlyAdmin

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
        run_each(self, request, queryset.values_list("pk", flat=True),
                 lambda pk: retry.outbox_retry(outbox_id=pk, actor=request.user),
                 done=lambda count: f"Retrying {count} event(s).", refused_level=messages.WARNING)
