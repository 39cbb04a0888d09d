import json

from django.contrib import admin, messages
from django.utils.html import format_html

from core.admin_roles import LagTolerantChangelistMixin, RoleAdminMixin
from core.errors import ServiceError

from .models import AnalyticsDeadLetter, AnalyticsEvent
from .ingest import dead_letter_replay


def _json_text(value) -> str:
    """JSON with ASCII escapes: a page shows any stored text, even what UTF-8 cannot encode."""
    return json.dumps(value, ensure_ascii=True, indent=2, sort_keys=True, default=str)


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(LagTolerantChangelistMixin, admin.ModelAdmin):
    """Read-only: events are client data, written only by the `analytics` queue."""

    list_display = ["id", "name", "ts", "user", "received_at"]
    list_filter = ["name"]
    date_hierarchy = "ts"
    search_fields = ["name"]
    exclude = ["properties"]
    readonly_fields = ["properties_json"]

    @admin.display(description="properties")
    def properties_json(self, obj):
        return format_html("<pre>{}</pre>", _json_text(obj.properties))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AnalyticsDeadLetter)
class AnalyticsDeadLetterAdmin(RoleAdminMixin, admin.ModelAdmin):
    """Batches (or their events) the worker could not store; admins replay them (the action
    calls analytics.services.dead_letter_replay, which audits). Nothing is edited or deleted."""

    add_role = change_role = delete_role = None
    list_display = ["id", "batch_id", "event_count", "status", "attempts", "received_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["batch_id", "request_id"]
    exclude = ["events", "error"]
    readonly_fields = ["events_json", "error_text"]
    actions = ["replay", "replay_repaired"]

    @admin.display(description="events")
    def events_json(self, obj):
        try:
            return format_html("<pre>{}</pre>", _json_text(json.loads(obj.events)))
        except ValueError:
            return obj.events

    @admin.display(description="last error")
    def error_text(self, obj):
        return obj.error

    def _replay(self, request, queryset, *, repair: bool):
        for pk in queryset.values_list("pk", flat=True):
            try:
                row = dead_letter_replay(dead_letter_id=pk, actor=request.user, repair=repair)
            except ServiceError as exc:
                self.message_user(request, f"#{pk}: {exc.message}", messages.ERROR)
                continue
            if row.status == "replayed":
                self.message_user(request, f"#{pk}: stored.", messages.SUCCESS)
            else:
                self.message_user(request, f"#{pk}: {row.event_count} event(s) still failing: {row.error[:200]}",
                                  messages.WARNING)

    @admin.action(description="Replay selected batches")
    def replay(self, request, queryset):
        self._replay(request, queryset, repair=False)

    @admin.action(description="Replay, replacing text the database refuses with U+FFFD")
    def replay_repaired(self, request, queryset):
        self._replay(request, queryset, repair=True)
