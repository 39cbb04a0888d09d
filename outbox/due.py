"""Whether events or follow-ups are due now: the relay loop's cheap look between ticks
(docs/realtime.md, "Write path").

A process that does not send after commit (OUTBOX_SEND_AFTER_COMMIT off: the Procfile's `web`
line) writes its outbox rows and follow-ups due at once and leaves them to the relay loop. The loop
asks `due_now()` every OUTBOX_RELAY_POLL_SECONDS (one statement, two index range scans on the
pending partial indexes) and runs the relay the rows need as soon as some are due, so an event
waits at most about that long for the relay, and rows committed in the meantime by many requests
go out in one pass. (A PostgreSQL NOTIFY from the writing transaction was tried first: it takes a
database-wide lock from pre-commit to the end of the commit, WAL flush included, and so serialized
every write request's commit; docs/benchmarks.md.)
"""
from __future__ import annotations

from django.db import connection
from django.utils import timezone

from .models import EventOutbox, FollowUp, FollowUpStatus, OutboxStatus


def due_now(*, now=None) -> tuple[bool, bool]:
    """(an event is due, a follow-up is due): a pending row whose `next_attempt_at` has come.
    Rows waiting out a retry backoff are not due; the loop's regular tick covers them."""
    now = now or timezone.now()
    events, followups = (connection.ops.quote_name(m._meta.db_table) for m in (EventOutbox, FollowUp))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {events} WHERE status = %s AND next_attempt_at <= %s),"
            f" EXISTS (SELECT 1 FROM {followups} WHERE status = %s AND next_attempt_at <= %s)",
            [OutboxStatus.PENDING, now, FollowUpStatus.PENDING, now])
        found = cursor.fetchone()
    return bool(found[0]), bool(found[1])
