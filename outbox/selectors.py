"""Reads of the outbox for the admin API."""
from django.db.models import Count, Min, QuerySet

from .models import EventOutbox, OutboxStatus


def outbox_list(*, status: str | None = None) -> QuerySet[EventOutbox]:
    """Rows newest first, optionally of one status (pending, sent, failed)."""
    qs = EventOutbox.objects.order_by("-id")
    return qs.filter(status=status) if status else qs


def outbox_counts() -> dict:
    """{"pending", "sent", "failed"} row counts and `oldestPendingAt` (aware UTC or None): the one
    place outbox counts are computed (admin queues API, /metrics, dashboard numbers)."""
    counts = {s: 0 for s in OutboxStatus.values}
    for row in EventOutbox.objects.values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    oldest = EventOutbox.objects.filter(status=OutboxStatus.PENDING).aggregate(t=Min("created_at"))["t"]
    return {**counts, "oldestPendingAt": oldest}
