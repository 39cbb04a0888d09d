from django.contrib import admin

from core.admin_roles import LagTolerantChangelistMixin

from .models import AnalyticsEvent


@admin.register(AnalyticsEvent)
class AnalyticsEventAdmin(LagTolerantChangelistMixin, admin.ModelAdmin):
    """Read-only: events are client data, written only by the `analytics` queue."""

    list_display = ["id", "name", "ts", "user", "received_at"]
    list_filter = ["name"]
    date_hierarchy = "ts"
    search_fields = ["name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
