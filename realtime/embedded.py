"""The serving process's relay loop for embedded mode (InMemoryChannelLayer).

`EmbeddedRelay` wraps the ASGI application. On its first call it marks this process as the one
serving websockets (outbox.runtime) and, when the channel layer is process-local, starts a task
on the server's event loop that runs the relay every OUTBOX_EMBEDDED_RELAY_SECONDS: rows
published by other processes (`manage.py runjob expiry_reminders`, `manage.py shell`) reach the
sockets within about a second; the same loop dispatches due follow-up tasks (outbox.followups:
inline in embedded mode, so only ones whose task failed) and publishes the admin dashboard's
snapshot (outbox.dashboard). With Redis it only marks the process; the Celery beat relay runs.
"""
from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from outbox import runtime
from outbox.dashboard import DashboardPublisher
from outbox.followups import followups_relay
from outbox.relay import relay_run

log = logging.getLogger(__name__)


async def relay_loop(interval: float, first_pass: asyncio.Event | None = None) -> None:
    """Relay every `interval` seconds, the first pass at once; `first_pass` is set when it ended
    (sent, or failed and logged)."""
    dashboard = DashboardPublisher()
    first = True
    while True:
        if not first:
            await asyncio.sleep(interval)
        try:
            stats = await database_sync_to_async(relay_run)()
            await database_sync_to_async(followups_relay)()
            await database_sync_to_async(dashboard.tick)()
            if stats.get("sent") or stats.get("retrying"):
                log.info("embedded relay: %s", stats)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep relaying: the next tick retries
            log.exception("embedded relay pass failed")
        finally:
            if first and first_pass is not None:
                first_pass.set()
            first = False


class EmbeddedRelay:
    """ASGI middleware: mark the serving process; in embedded mode run the relay loop in it.

    The first requests wait for the loop's first pass: rows other processes left pending before
    the server started (`manage.py demo_data`, a job run while it was down) are sent before any
    client is served, so a socket that connects after the start does not receive them, a second
    later, as if they were new (docs/realtime.md, "Embedded mode")."""

    def __init__(self, app):
        self.app = app
        self._task: asyncio.Task | None = None
        self._first_pass: asyncio.Event | None = None

    def _start(self) -> None:
        runtime.mark_serving()
        if self._task is None and runtime.layer_is_process_local() and settings.OUTBOX_EMBEDDED_RELAY_SECONDS > 0:
            self._first_pass = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                relay_loop(settings.OUTBOX_EMBEDDED_RELAY_SECONDS, self._first_pass))

    async def __call__(self, scope, receive, send):
        if self._task is None and scope["type"] in ("http", "websocket", "lifespan"):
            self._start()
        if self._first_pass is not None and not self._first_pass.is_set():
            await self._first_pass.wait()
        return await self.app(scope, receive, send)
