"""Operations numbers for the live admin dashboard (core.stats registry, auto-discovered)."""
from __future__ import annotations

from django.conf import settings

from core.stats import register_stat

from .monitoring.queues import queue_waiting


def queue_depths() -> dict[str, int]:
    """Messages waiting in the broker per Celery queue of settings.QUEUES, as the admin queues
    API counts them (`ops.monitoring.queues.queue_waiting`); 0 each in embedded mode."""
    return queue_waiting(queues=list(settings.QUEUES), timeout=1)


register_stat("queueDepths", queue_depths)
