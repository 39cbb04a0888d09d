"""The relay loop (`manage.py outbox_relay_loop`, the Procfile's `relay` process).

Every OUTBOX_RELAY_LOOP_SECONDS it sends due outbox events (outbox.relay) and dispatches due
follow-up tasks (outbox.followups). When a pass finds the channel layer down it probes Redis on
every tick (`transport.layer_ping`, bounded) and, the moment Redis answers again, makes every
event that failed during the outage due at once (`relay_wake`): events flow again within about a
tick of Redis returning, not after their backoff. Follow-ups whose publish failed are due at once
already, so they go out on the first tick the broker answers. Each tick also publishes the admin
dashboard's snapshot when it changed (outbox.dashboard), so no ws process computes it. Beat's
one-minute relay jobs stay as the safety net when this process is not running. Several loops may
run: both relays claim rows FOR UPDATE SKIP LOCKED. Errors (the database restarting) are logged and the next tick retries.
"""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from .dashboard import DashboardPublisher
from .followups import followups_relay
from .relay import relay_has_waiting_failures, relay_run, relay_wake
from .transport import layer_ping

log = logging.getLogger(__name__)


class RelayLoop:
    """One tick at a time; `layer_down` remembers that the last event pass could not send."""

    def __init__(self) -> None:
        self.layer_down = False
        self.dashboard = DashboardPublisher()

    def tick(self) -> dict:
        """Run the event relay and the follow-up relay once. Returns what each did."""
        out: dict = {}
        if not self.layer_down and relay_has_waiting_failures():
            self.layer_down = True  # a request's send failed: wake its rows as soon as Redis answers
        if self.layer_down:
            if not layer_ping():
                out["events"] = {"skipped": "channel layer still down"}
            else:
                out["woken"] = relay_wake()
                self.layer_down = False
        if not self.layer_down:
            stats = relay_run()
            out["events"] = stats
            self.layer_down = bool(stats.get("retrying") or stats.get("failed")) and not stats.get("sent")
        out["followUps"] = followups_relay()
        if not self.layer_down:
            out["dashboard"] = self.dashboard.tick()
        return out

    def run(self, *, interval: float | None = None, stop: threading.Event | None = None) -> None:
        """Tick until `stop` is set (forever in the Procfile's `relay` process)."""
        interval = settings.OUTBOX_RELAY_LOOP_SECONDS if interval is None else interval
        stop = stop or threading.Event()
        log.info("relay loop started (every %.1f s)", interval)
        while not stop.is_set():
            started = time.monotonic()
            try:
                out = self.tick()
                if (out.get("events") or {}).get("sent") or out["followUps"]["dispatched"] or out.get("woken"):
                    log.info("relay loop: %s", out)
            except Exception as exc:  # database restarting: drop the connection, retry next tick
                log.warning("relay loop tick failed: %s", exc)
                connection.close()
            close_old_connections()
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
