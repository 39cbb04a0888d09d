"""The live admin dashboard's snapshot, computed once per deployment and published to the ws
processes (docs/realtime.md, "Admin dashboard stats").

The relay loop (outbox.loop, the Procfile's `relay` process; in embedded mode the serving
process's relay loop, realtime.embedded) computes the snapshot (core.stats) every
ADMIN_STATS_INTERVAL_SECONDS and sends it to the channel-layer group DASHBOARD_GROUP when it
changed, and at least every ADMIN_STATS_REFRESH_SECONDS (so a ws process that missed a message
catches up). Every ws process forwards it to its own admin sockets (realtime.dashboard): no ws
process runs the dashboard's queries, whose Python work in a thread held the event loop back
once a second (docs/benchmarks.md, "admin.stats out of the ws process").

Message: `{"type": "admin.stats", "key": <the snapshot as JSON>, "text": <the frame>}`; the
frame is `{"type": "stats", "channel": "admin.stats", "ts", "data"}`, not an outbox event (a
snapshot, never replayed).
"""
from __future__ import annotations

import json
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from core.stats import stats_snapshot

log = logging.getLogger(__name__)
DASHBOARD_GROUP = "dashboard"


def stats_key(data: dict) -> str:
    """The snapshot as canonical JSON: equal snapshots have equal keys (Decimal and dates as
    DjangoJSONEncoder writes them)."""
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)


def _frame(key: str) -> str:
    """The `admin.stats` frame around a snapshot's key (its JSON), stamped now (UTC)."""
    ts = timezone.now().isoformat().replace("+00:00", "Z")
    return f'{{"type":"stats","channel":"admin.stats","ts":"{ts}","data":{key}}}'


def stats_message(data: dict) -> dict:
    """The channel-layer message for a snapshot (see the module doc); the snapshot is encoded
    once, for the key and the frame."""
    key = stats_key(data)
    return {"type": "admin.stats", "key": key, "text": _frame(key)}


class DashboardPublisher:
    """Computes and publishes the snapshot at most once per ADMIN_STATS_INTERVAL_SECONDS; sync,
    called from a relay loop's tick."""

    def __init__(self) -> None:
        self.computed_at = float("-inf")
        self.sent_at = float("-inf")
        self.key: str | None = None

    def tick(self, now: float | None = None) -> bool:
        """Publish the snapshot if it is due and changed (or unsent for the refresh period).
        Returns whether a message was sent. A failing layer or query is logged, not raised:
        the dashboard is not worth a relay tick."""
        now = time.monotonic() if now is None else now
        interval = settings.ADMIN_STATS_INTERVAL_SECONDS
        # Less a tenth: a caller ticking at the same period (the relay loop's 1 s) is never a hair early.
        if now - self.computed_at < interval - min(0.1, interval / 10):
            return False
        self.computed_at = now
        try:
            message = stats_message(stats_snapshot())
            if message["key"] == self.key and now - self.sent_at < settings.ADMIN_STATS_REFRESH_SECONDS:
                return False
            async_to_sync(get_channel_layer().group_send)(DASHBOARD_GROUP, message)
        except Exception as exc:
            log.warning("dashboard snapshot not published: %s", exc)
            return False
        self.key, self.sent_at = message["key"], now
        return True
