"""`admin.stats` for the live admin dashboard: forwarded by every ws process to its admin sockets
(docs/realtime.md, "Admin dashboard stats").

The snapshot is computed once per deployment by the relay loop and published to the channel-layer
group `dashboard` (outbox.dashboard) when it changes. Every websocket process keeps a `StatsHub`
of its own admin sockets; while it has any, one channel of the hub listens to that group and
writes a snapshot that differs from the last to every member, and the last one to a member that
just joined, at once. So a burst of 1,000 approvals yields at most one stats frame a second per
socket, an idle system none, and no ws process runs the dashboard's queries. When no snapshot
has been heard for ADMIN_STATS_STALE_SECONDS (no relay loop running), the hub computes it itself
every ADMIN_STATS_INTERVAL_SECONDS, as before, until the relay's return.
"""
from __future__ import annotations

import asyncio
import logging
import time

from channels.layers import get_channel_layer
from django.conf import settings

from core.stats import stats_snapshot
from outbox.dashboard import DASHBOARD_GROUP, stats_message

from .db import db_call

log = logging.getLogger(__name__)


class StatsHub:
    """This process's admin sockets and the last snapshot; members have `admin_stats({"text"})`."""

    def __init__(self):
        self.members: set = set()
        self.fresh: set = set()  # joined since the last snapshot was written to them
        self.key: str | None = None
        self.text: str | None = None
        self.heard_at = float("-inf")  # monotonic time of the task's last snapshot from the relay
        self.task: asyncio.Task | None = None

    def join(self, member) -> None:
        self.members.add(member)
        if self.text is not None and self.task is not None and not self.task.done():
            asyncio.ensure_future(self._write([member], self.text))
        else:
            self.fresh.add(member)
        if self.task is None or self.task.done():
            self.key = self.text = None
            self.task = asyncio.ensure_future(self._run())

    def leave(self, member) -> None:
        self.members.discard(member)
        self.fresh.discard(member)
        if not self.members and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(DASHBOARD_GROUP, channel)
        self.heard_at = float("-inf")  # nothing heard on this subscription yet
        try:
            await self._local()  # the first members get a snapshot at once
            while self.members:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), settings.ADMIN_STATS_INTERVAL_SECONDS)
                except asyncio.TimeoutError:
                    if time.monotonic() - self.heard_at >= settings.ADMIN_STATS_STALE_SECONDS:
                        await self._local()
                    continue
                if message.get("type") == "admin.stats":
                    self.heard_at = time.monotonic()
                    await self.apply(message["key"], message["text"])
        finally:
            try:
                await layer.group_discard(DASHBOARD_GROUP, channel)
            except Exception:  # layer down: the group's membership expires with it
                log.warning("dashboard: group_discard failed", exc_info=True)

    async def _local(self) -> None:
        try:
            message = stats_message(await db_call(stats_snapshot))
        except Exception:
            log.exception("admin stats tick failed")
            return
        await self.apply(message["key"], message["text"])

    async def apply(self, key: str, text: str) -> None:
        """A snapshot (`key`, its frame `text`): to every member when it changed, else to the
        members that joined since the last one."""
        targets = list(self.members) if key != self.key else list(self.fresh)
        self.key, self.text = key, text
        self.fresh.clear()
        await self._write(targets, text)

    async def _write(self, members, text: str) -> None:
        for member in members:
            try:
                await member.admin_stats({"text": text})
            except Exception:  # a socket closing under us
                self.members.discard(member)


hub = StatsHub()
