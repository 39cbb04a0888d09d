"""Waking the relay loop at the commit of rows it must send (docs/realtime.md, "Write path").

A process that does not send after commit (OUTBOX_SEND_AFTER_COMMIT off: the Procfile's `web`
line) writes its outbox rows and follow-ups due at once. Triggers on both tables (migration
outbox 0005) run `pg_notify(CHANNEL, 'events' | 'followups')` for every row inserted due at once
(`next_attempt_at <= created_at`); PostgreSQL delivers the notification when the transaction
commits, never for one that rolls back, and folds repeats within a transaction into one. The
relay loop LISTENs on CHANNEL (`Waker`) and ticks as soon as one arrives, instead of after
OUTBOX_RELAY_LOOP_SECONDS; rows due later (the after-commit send had its chance) wake nobody.
A lost notification (the listener was reconnecting) costs at most one loop interval: the loop
still ticks every OUTBOX_RELAY_LOOP_SECONDS.
"""
from __future__ import annotations

import logging
import time

from django.db import connection

log = logging.getLogger(__name__)

CHANNEL = "dgt_outbox_due"
EVENTS = "events"
FOLLOWUPS = "followups"


class Waker:
    """A LISTEN connection of its own (autocommit, outside Django's pool) for the relay loop.

    `wait(timeout)` returns the set of payloads received ({"events", "followups"}) as soon as one
    arrives, or an empty set after `timeout` seconds. Off PostgreSQL, or while the connection is
    down, it just sleeps `timeout` (the loop then ticks on its interval, as before); it reconnects
    on the next call. Never raises.
    """

    def __init__(self) -> None:
        self.conn = None

    def _connect(self):
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        conn = psycopg.connect(**params, autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def wait(self, timeout: float) -> set[str]:
        if connection.vendor != "postgresql":
            time.sleep(max(0.0, timeout))
            return set()
        started = time.monotonic()
        try:
            if self.conn is None or self.conn.closed:
                self.conn = self._connect()
            got = {n.payload for n in self.conn.notifies(timeout=max(0.0, timeout), stop_after=1)}
            if got:  # take whatever else is queued too: one tick serves them all
                got |= {n.payload for n in self.conn.notifies(timeout=0)}
            return got
        except Exception as exc:  # the database restarting: sleep out the interval, reconnect next time
            log.warning("relay wake-up listener failed: %s", exc)
            self.close()
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))
            return set()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                pass
