from django.db.models import QuerySet

from .models import AuditLog


def audit_log_list() -> QuerySet[AuditLog]:
    """Audit rows, newest first, with their actor joined (one query per page)."""
    return AuditLog.objects.select_related("user").order_by("-id")
