"""Numbers for the live admin dashboard (`admin.stats`), from a registry other apps add to.

A provider is a zero-argument function returning a JSON value (usually an int). Register one
from your app's `stats.py` (auto-discovered at start-up, like admin.py):

    # wallet/stats.py
    from outbox.stats import register_stat
    register_stat("refundsToday", lambda: Refund.objects.filter(created_at__date=...).count())

A provider that raises is reported as None (logged) and never breaks the others. Built in:
pendingListings, outboxPending, outboxFailed, queueDepths (Celery queues on a Redis broker),
layerDrops (frames this process's channel layer dropped). The dashboard shows every key it gets;
refundsToday and failedPayouts are expected from the wallet app (docs/realtime.md).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

_providers: dict[str, Callable[[], Any]] = {}


def register_stat(name: str, provider: Callable[[], Any]) -> None:
    """Add (or replace) the dashboard number `name` (camelCase), computed by `provider()`."""
    _providers[name] = provider


def stats_snapshot() -> dict[str, Any]:
    """{name: value} of every registered provider, keys sorted; None where a provider failed."""
    out: dict[str, Any] = {}
    for name in sorted(_providers):
        try:
            out[name] = _providers[name]()
        except Exception as exc:
            log.warning("dashboard stat %s failed: %s", name, exc)
            out[name] = None
    return out


def _outbox_count(status: str) -> int:
    from .models import EventOutbox

    return EventOutbox.objects.filter(status=status).count()


def _pending_listings() -> int:
    from listings.models import Listing, ListingStatus

    return Listing.objects.filter(status=ListingStatus.PENDING).count()


_broker_client = None


def _queue_depths() -> dict[str, int]:
    """Messages waiting per Celery queue (Redis broker: the queue is a list). {} otherwise."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://")):
        return {}
    global _broker_client
    if _broker_client is None:
        import redis

        _broker_client = redis.Redis.from_url(broker, socket_connect_timeout=1, socket_timeout=1)
    client = _broker_client
    names = ["default", "notifications", "search", "analytics"]
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(name)
        return dict(zip(names, pipe.execute()))


def _layer_drops() -> int:
    from .layers import DROPS

    return DROPS.count


def register_builtin() -> None:
    from django.apps import apps

    register_stat("outboxPending", lambda: _outbox_count("pending"))
    register_stat("outboxFailed", lambda: _outbox_count("failed"))
    register_stat("queueDepths", _queue_depths)
    register_stat("layerDrops", _layer_drops)
    if apps.is_installed("listings"):
        register_stat("pendingListings", _pending_listings)
