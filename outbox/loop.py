"""The relay loop (`manage.py outbox_relay_loop`, the Procfile's `relay` process).

Every OUTBOX_RELAY_LOOP_SECONDS it sends due outbox events (outbox.relay) and dispatches due
follow-up tasks (outbox.followups); in between it looks every OUTBOX_RELAY_POLL_SECONDS for rows
due now (outbox.due: the Procfile's `web` line leaves its events and follow-ups to this loop) and
runs the relay they need at once. When a pass finds the channel layer down it probes Redis on
every tick (`transport.layer_ping`, bounded) and, the moment Redis answers again, makes every
event that failed during the outage due at once (`relay_wake`): events flow again within about a
tick of Redis returning, not after their backoff. Follow-ups whose publish failed are due at once
already, so they go out on the first tick the broker answers. Each full tick also publishes the
admin dashboard's snapshot when it changed (outbox.dashboard), so no ws process computes it.
Beat's one-minute relay jobs stay as the safety net when this process is not running. Several
loops may run: both relays claim rows FOR UPDATE SKIP LOCKED. Errors (the database restarting)
are logged and the next tick retries.
"""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from .dashboard import DashboardPublisher
from .due import due_now
from .followups import followups_relay
from .relay import relay_has_waiting_failures, relay_run, relay_wake
from .transport import layer_ping

log = logging.getLogger(__name__)


class RelayLoop:
    """One tick at a time; `layer_down` remembers that the last event pass could not send."""

    def __init__(self) -> None:
        self.layer_down = False
        self.broker_error = False
        self.dashboard = DashboardPublisher()

    def tick(self, *, events: bool = True, followups: bool = True, probe: bool = True) -> dict:
        """Run the event relay and the follow-up relay once (between regular ticks, only the one
        whose rows are due, and without looking for failed sends to probe: `probe=False`).
        Returns what each did."""
        out: dict = {}
        if events:
            self._events(out, probe)
        if followups:
            out["followUps"] = followups_relay()
            self.broker_error = bool(out["followUps"]["error"])
        if probe and not self.layer_down:  # full ticks only: the dashboard's snapshot, when due
            out["dashboard"] = self.dashboard.tick()
        return out

    def _events(self, out: dict, probe: bool) -> None:
        if probe and not self.layer_down and relay_has_waiting_failures():
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

    def run(self, *, interval: float | None = None, poll: float | None = None,
            stop: threading.Event | None = None) -> None:
        """Tick until `stop` is set (forever in the Procfile's `relay` process): a full tick every
        `interval` seconds (OUTBOX_RELAY_LOOP_SECONDS), and in between, every `poll` seconds
        (OUTBOX_RELAY_POLL_SECONDS), the relay of whatever is due now (outbox.due). While the layer
        or the broker is down, only the full ticks try it (they probe and wake, as before)."""
        interval = settings.OUTBOX_RELAY_LOOP_SECONDS if interval is None else interval
        poll = settings.OUTBOX_RELAY_POLL_SECONDS if poll is None else poll
        stop = stop or threading.Event()
        log.info("relay loop started (every %.1f s; due rows looked for every %.3f s)", interval, poll)
        next_full = time.monotonic()
        while not stop.is_set():
            try:
                if time.monotonic() >= next_full:
                    next_full = time.monotonic() + interval
                    # Connection upkeep once per full tick, not per look: with CONN_MAX_AGE 0 (the
                    # relay line) it closes the connection, and a new one every 20 ms would cost more
                    # than the looks themselves.
                    close_old_connections()
                    out = self.tick()
                    if (out.get("events") or {}).get("sent") or out["followUps"]["dispatched"] or out.get("woken"):
                        log.info("relay loop: %s", out)
                else:
                    events, followups = due_now()
                    if (events and not self.layer_down) or (followups and not self.broker_error):
                        self.tick(events=events and not self.layer_down, followups=followups and not self.broker_error,
                                  probe=False)
            except Exception as exc:  # database restarting: drop the connection, retry next tick
                log.warning("relay loop tick failed: %s", exc)
                connection.close()
            stop.wait(max(0.0, min(poll, next_full - time.monotonic())))
