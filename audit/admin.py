from django.contrib import admin

from core.admin_roles import LagTolerantChangelistMixin

from .models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(LagTolerantChangelistMixin, admin.ModelAdmin):
    """Read-only: the audit log cannot be added to, changed or deleted through the admin."""

    list_display = ("created_at", "action", "entity_type", "entity_id", "user", "reason", "ip_address", "request_id")
    list_filter = ("action", "entity_type")
    search_fields = ("entity_id", "request_id", "user__username")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
