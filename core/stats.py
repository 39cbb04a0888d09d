"""Numbers for the live admin dashboard (`admin.stats`): a registry every app adds to.

A provider is a zero-argument function returning a JSON value (usually an int). An app registers
its own numbers from its `stats.py`, auto-discovered at start-up like admin.py (core.apps):

    # wallet/stats.py
    from core.stats import register_stat
    register_stat("refundsToday", lambda: Refund.objects.filter(created_at__date=...).count())

A provider that raises is reported as None (logged) and never breaks the others. Registered
today: outboxPending, outboxFailed (outbox/stats.py), pendingListings, oldestPendingAge,
decisionsToday (listings/stats.py), refundsToday, failedPayouts (wallet/stats.py), layerDrops
(realtime/stats.py) and queueDepths (ops/stats.py). The dashboard shows every key it gets (docs/realtime.md).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .db import lag_tolerant_reads

log = logging.getLogger(__name__)

_providers: dict[str, Callable[[], Any]] = {}


def register_stat(name: str, provider: Callable[[], Any]) -> None:
    """Add (or replace) the dashboard number `name` (camelCase), computed by `provider()`."""
    _providers[name] = provider


def stats_snapshot() -> dict[str, Any]:
    """{name: value} of every registered provider, keys sorted; None where a provider failed."""
    out: dict[str, Any] = {}
    with lag_tolerant_reads():  # dashboard counts may lag (replica): docs/operations.md
        for name in sorted(_providers):
            out[name] = _value(name)
    return out


def _value(name: str) -> Any:
    try:
        return _providers[name]()
    except Exception as exc:
        log.warning("dashboard stat %s failed: %s", name, exc)
        return None
