"""Reads of the outbox for the admin API."""
from django.db.models import QuerySet

from .models import EventOutbox


def outbox_list(*, status: str | None = None) -> QuerySet[EventOutbox]:
    """Rows newest first, optionally of one status (pending, sent, failed)."""
    qs = EventOutbox.objects.order_by("-id")
    return qs.filter(status=status) if status else qs
