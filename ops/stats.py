"""Operations numbers for the live admin dashboard (core.stats registry, auto-discovered)."""
from __future__ import annotations

from django.conf import settings

from core.stats import register_stat

from .monitoring.queues import KeptBrokerProbe

_probe = KeptBrokerProbe()


def queue_depths() -> dict[str, int]:
    """Messages waiting in the broker per Celery queue of settings.QUEUES, as the admin queues
    API counts them, over one kept broker connection (`ops.monitoring.queues.KeptBrokerProbe`:
    this runs once a second in every ws process with an admin socket); 0 each in embedded mode."""
    return _probe.waiting(queues=list(settings.QUEUES), timeout=1)


register_stat("queueDepths", queue_depths)
