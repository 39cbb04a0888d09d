from django.urls import path

from . import api

urlpatterns = [path("admin/audit-logs", api.AuditLogListView.as_view(), name="audit-logs")]
