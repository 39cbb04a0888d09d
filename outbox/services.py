"""Publishing events through the transactional outbox (docs/realtime.md; Sentry's outbox pattern).

`publish()` is called by a service inside its transaction. The rows commit or roll back with the
change; after commit they are handed to the channel layer at once (`send_rows`) and marked sent.
A row that could not be sent stays pending with its error, for the relay (outbox.relay) to retry;
its first retry is not due before OUTBOX_FIRST_RETRY_SECONDS so the relay never races the
after-commit send. In a process that may not send (embedded mode, not the websocket server;
see outbox.runtime) rows are written due at once and left to the serving process's relay; so
are they where OUTBOX_SEND_AFTER_COMMIT is off (the Procfile's `web` line): the relay loop finds
them within OUTBOX_RELAY_POLL_SECONDS (outbox.due) and sends many requests' rows per batch.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.breaker import breaker
from core.compiled import CompiledInsert
from core.context import current

from . import runtime
from .models import EventOutbox, OutboxStatus
from .ordering import find_blockers, hold, split_ready
from .transport import BatchResult, send_batch

log = logging.getLogger(__name__)

LAYER = breaker("layer")
GROUP_ADMIN = "admin"
GROUP_PUBLIC = "public"
_INSERT = CompiledInsert(EventOutbox)


def user_group(user_id: int) -> str:
    """The realtime group of one user's sockets."""
    return f"user.{user_id}"


def publish(*, channel: str, groups: Iterable[str], data: dict) -> list[EventOutbox]:
    """Write one outbox row per group for `channel` with `data`; send them after commit.

    `data` must be JSON-serializable with DjangoJSONEncoder (Decimal -> "500.00" string,
    datetime -> ISO 8601). Call inside the transaction of the change; outside one (autocommit)
    the rows are sent at once. Returns the rows (with ids).
    """
    return publish_many(events=[(channel, groups, data)])


def publish_many(*, events: Iterable[tuple[str, Iterable[str], dict]], batch_size: int = 1000) -> list[EventOutbox]:
    """Write the outbox rows of many events at once; send them after commit, in one go.

    `events` is an iterable of `(channel, groups, data)` with `publish()`'s meaning; the rows are
    inserted with bulk INSERTs of `batch_size` rows and handed to `send_rows` by a single
    on-commit callback, so a job that publishes thousands of events makes a few round trips
    instead of one per event. Returns the rows (with ids), in order.
    """
    now = timezone.now()
    sends = runtime.sends_after_commit()
    due = now + timedelta(seconds=settings.OUTBOX_FIRST_RETRY_SECONDS) if sends else now
    request_id = current().request_id
    pending = []
    for channel, groups, data in events:
        payload = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
        pending.extend(EventOutbox(channel=channel, group=group, payload=payload, request_id=request_id,
                                   next_attempt_at=due, created_at=now) for group in dict.fromkeys(groups))
    if not pending:
        return []
    # A request's few rows: one INSERT whose SQL is built once per row count (core.compiled); a
    # job's thousands: bulk INSERTs of `batch_size` rows.
    rows = _INSERT.insert(pending) if len(pending) <= _INSERT.max_rows else EventOutbox.objects.bulk_create(
        pending, batch_size=batch_size)
    if sends:
        transaction.on_commit(lambda: send_rows(rows), robust=True)
    return rows


def send_rows(rows: list[EventOutbox]) -> int:
    """Send committed pending rows to the channel layer in id order and mark them sent.

    Returns how many were marked sent. On a layer error (e.g. Redis down) the unsent rows stay
    pending with `last_error` set and one attempt counted, for the relay. Rows of a group that
    has an earlier row waiting for a retry are left to the relay too (id order per group).
    While the layer failed moments ago (core.breaker "layer") nothing is tried: the rows stay
    pending for the relay loop. Never raises: the caller's change has already committed and must
    not be reported as failed (docs/operations.md).
    """
    rows = sorted(rows, key=lambda r: r.id)
    if not rows:
        return 0
    now = timezone.now()
    try:
        blockers = find_blockers(upto_id=rows[-1].id, mine={r.id for r in rows}, now=now,
                                 groups={r.group for r in rows})
        rows, held = split_ready(rows, blockers)
        if held:
            hold(held, now, lambda ids: EventOutbox.objects.filter(id__in=ids))
    except Exception as exc:  # database gone: the relay will find them
        log.warning("outbox send skipped for %d rows: %s", len(rows), exc)
        return 0
    if LAYER.allow():
        result = send_batch(rows)
        if result.error is None:
            LAYER.success()
        else:
            LAYER.failure()
    else:  # Redis failed moments ago: leave the rows to the relay loop, marked as tried
        result = BatchResult(error=ConnectionError("channel layer unavailable (circuit open)"))
    try:
        return _mark(rows, result)
    except Exception as exc:  # database gone after the send: the relay sends them again (at least once)
        log.warning("outbox rows %s sent but not marked: %s", result.sent, exc)
        return 0


def _mark(rows: list[EventOutbox], result) -> int:
    sent = EventOutbox.objects.filter(id__in=result.sent, status=OutboxStatus.PENDING).update(
        status=OutboxStatus.SENT, sent_at=timezone.now(), last_error=""
    ) if result.sent else 0
    if result.error is not None:
        unsent = [r.id for r in rows if r.id not in set(result.sent)]
        log.warning("outbox send failed for %d rows, left pending: %s", len(unsent), result.error)
        EventOutbox.objects.filter(id__in=unsent, status=OutboxStatus.PENDING).update(
            attempts=F("attempts") + 1, last_error=f"{type(result.error).__name__}: {result.error}"[:1000]
        )
    return sent
