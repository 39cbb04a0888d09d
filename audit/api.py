"""`GET /api/admin/audit-logs?entityType=&entityId=&action=&userId=` (admins only, paginated)."""
import django_filters
from rest_framework import generics, serializers

from core.api.fields import RenamedModelSerializer
from core.api.permissions import IsAdmin
from core.db import lag_tolerant

from .models import AuditLog
from .selectors import audit_log_list


class AuditLogFilter(django_filters.FilterSet):
    entityType = django_filters.CharFilter(field_name="entity_type")
    entityId = django_filters.CharFilter(field_name="entity_id")
    action = django_filters.CharFilter(field_name="action")
    userId = django_filters.NumberFilter(field_name="user_id")

    class Meta:
        model = AuditLog
        fields = []


class AuditLogSerializer(RenamedModelSerializer):
    """An audit row as the admin API shows it (camelCase; read-only)."""

    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = AuditLog
        fields = ["id", "action", "entityType", "entityId", "userId", "username", "reason", "metadata",
                  "ipAddress", "requestId", "createdAt"]
        read_only_fields = fields
        renamed = {"entityType": "entity_type", "entityId": "entity_id", "userId": "user_id",
                   "ipAddress": "ip_address", "requestId": "request_id", "createdAt": "created_at"}


class AuditLogListView(generics.ListAPIView):
    permission_classes = [IsAdmin]
    serializer_class = AuditLogSerializer
    filterset_class = AuditLogFilter

    def get_queryset(self):
        return audit_log_list()

    @lag_tolerant  # an admin list page: may lag (replica), docs/operations.md
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)
