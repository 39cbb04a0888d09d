"""Operations numbers for the live admin dashboard (core.stats registry, auto-discovered)."""
from __future__ import annotations

import redis
from django.conf import settings

from core.stats import register_stat

_broker_client = None


def queue_depths() -> dict[str, int]:
    """Messages waiting per Celery queue of settings.QUEUES (Redis broker: the queue is a list).
    {} with another broker (embedded mode: in memory)."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://")):
        return {}
    global _broker_client
    if _broker_client is None:
        _broker_client = redis.Redis.from_url(broker, socket_connect_timeout=1, socket_timeout=1)
    names = list(settings.QUEUES)
    with _broker_client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(name)
        return dict(zip(names, pipe.execute()))


register_stat("queueDepths", queue_depths)
