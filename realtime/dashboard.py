"""`admin.stats` for the live admin dashboard: per process, coalesced, only when changed.

Every websocket process keeps a `StatsHub` of its own admin sockets. While it has any, it
recomputes the snapshot (core.stats) every ADMIN_STATS_INTERVAL_SECONDS (1 s) and writes it
to them when it differs from the last one, so a burst of 1,000 approvals yields at most one
stats frame a second per socket, and an idle system none. A socket joining gets the current
snapshot at once. Frame: `{"type": "stats", "channel": "admin.stats", "ts", "data": {...}}` --
not an outbox event (a snapshot, not something to replay), hence no id.
"""
from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from core.stats import stats_snapshot

log = logging.getLogger(__name__)


def stats_text(data: dict) -> str:
    ts = timezone.now().isoformat().replace("+00:00", "Z")
    return json.dumps({"type": "stats", "channel": "admin.stats", "ts": ts, "data": data},
                      cls=DjangoJSONEncoder, separators=(",", ":"))


class StatsHub:
    def __init__(self):
        self.members: set = set()
        self.fresh: set = set()
        self.last: dict | None = None
        self.task: asyncio.Task | None = None

    def join(self, consumer) -> None:
        self.members.add(consumer)
        self.fresh.add(consumer)
        if self.task is None or self.task.done():
            self.last = None
            self.task = asyncio.ensure_future(self._run())

    def leave(self, consumer) -> None:
        self.members.discard(consumer)
        self.fresh.discard(consumer)
        if not self.members and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        while self.members:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("admin stats tick failed")
            await asyncio.sleep(settings.ADMIN_STATS_INTERVAL_SECONDS)

    async def tick(self) -> None:
        snapshot = await database_sync_to_async(stats_snapshot)()
        changed = snapshot != self.last
        self.last = snapshot
        targets = list(self.members) if changed else list(self.fresh)
        self.fresh.clear()
        if not targets:
            return
        text = stats_text(snapshot)
        for consumer in targets:
            try:
                await consumer.admin_stats({"text": text})
            except Exception:  # a socket closing under us
                self.members.discard(consumer)


hub = StatsHub()
