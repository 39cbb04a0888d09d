"""Outbox numbers for the live admin dashboard (core.stats registry, auto-discovered)."""
from core.stats import register_stat

from .models import EventOutbox, OutboxStatus


def outbox_count(status: str) -> int:
    """Rows of the outbox in `status` (pending, sent, failed)."""
    return EventOutbox.objects.filter(status=status).count()


register_stat("outboxPending", lambda: outbox_count(OutboxStatus.PENDING))
register_stat("outboxFailed", lambda: outbox_count(OutboxStatus.FAILED))
