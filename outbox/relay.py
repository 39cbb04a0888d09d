"""The outbox relay: the safety net that sends every pending row the after-commit send missed.

One pass (`relay_pass`), in one transaction:
1. claim up to OUTBOX_RELAY_BATCH due pending rows, `FOR UPDATE SKIP LOCKED`, in id order, so two
   relays running at once claim disjoint rows and never send a row twice in one pass;
2. hold back rows of a group that has an earlier pending row this pass cannot send (failed before
   and not yet due again, or claimed by the other relay): per-group id order;
3. send the rest in one batch (outbox.transport: one pipelined round trip on Redis);
4. mark the sent ones with one UPDATE; give the unsent an attempt, their error and the next
   attempt time `now + min(BASE * 2**(attempts-1), MAX)`; at OUTBOX_MAX_ATTEMPTS they become
   failed and one `admin.alert` (kind `outbox.failed`) names them.
`relay_run` repeats passes, a cursor moving up the ids, until nothing due is left or the layer
fails. Sources: Sentry's outbox drain, docs/realtime.md.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from . import runtime
from .alerts import admin_alert
from .models import EventOutbox, OutboxStatus
from .ordering import find_blockers, hold, split_ready
from .transport import send_batch

log = logging.getLogger(__name__)


def backoff_seconds(attempts: int) -> int:
    """Delay before the next attempt after `attempts` failed ones (1, 2, ...): doubling, capped.

    With the defaults (base 10 s, cap 3600 s): 10, 20, 40, 80, ... 2560, 3600, 3600 ...
    """
    base = settings.OUTBOX_BACKOFF_BASE_SECONDS
    return int(min(base * 2 ** max(attempts - 1, 0), settings.OUTBOX_BACKOFF_MAX_SECONDS))


class ClaimedRow(NamedTuple):
    """The fields of a claimed row that sending needs (attribute names as on EventOutbox; a
    tuple because building 1,000 model instances per pass costs more than the send)."""

    id: int
    group: str
    channel: str
    payload: dict
    request_id: str
    created_at: datetime
    attempts: int


def _claim(batch_size: int, now, after_id: int) -> list[ClaimedRow]:
    if connection.vendor == "postgresql":
        # Walk outbox_pending_id_idx in id order. With the statistics of a table that was small
        # at the last ANALYZE (a backlog that built up in a minute) the planner otherwise picks
        # another index and sorts every pending row on each claim: measured 4.7k vs 11k rows/s.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = off")
    qs = (EventOutbox.objects.select_for_update(skip_locked=True)
          .filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now, id__gt=after_id)
          .order_by("id").values_list(*ClaimedRow._fields)[:batch_size])
    return [ClaimedRow(*values) for values in qs]


def _ids(ids) -> QuerySet:
    """Rows by id. On PostgreSQL the ids travel as one text parameter: psycopg dumps a
    1,000-element list element by element, which showed up as a third of a pass."""
    ids = list(ids)
    if connection.vendor == "postgresql":
        return EventOutbox.objects.filter(RawSQL("id = ANY(string_to_array(%s, ',')::bigint[])",
                                                 (",".join(map(str, ids)),), output_field=BooleanField()))
    return EventOutbox.objects.filter(id__in=ids)


def relay_pass(*, batch_size: int | None = None, after_id: int = 0, suspects: set[int] | None = None) -> dict:
    """One claim-send-mark pass over due rows with id > `after_id`.

    Returns {"claimed", "sent", "retrying", "failed", "held", "lastId"}. `suspects` (updated in
    place) carries the due rows found locked by another relay to the next pass of a run.
    """
    batch_size = batch_size or settings.OUTBOX_RELAY_BATCH
    suspects = set() if suspects is None else suspects
    with transaction.atomic():
        now = timezone.now()
        rows = _claim(batch_size, now, after_id)
        stats = {"claimed": len(rows), "sent": 0, "retrying": 0, "failed": 0, "held": 0, "lastId": after_id}
        if not rows:
            return stats
        stats["lastId"] = rows[-1].id
        blockers = find_blockers(upto_id=rows[-1].id, mine={r.id for r in rows}, now=now,
                                 due_from_id=after_id + 1, suspects=suspects)
        suspects.update(b.id for b in blockers.values() if b.next_attempt_at <= now)
        ready, held = split_ready(rows, blockers)
        result = send_batch(ready)
        sent = set(result.sent)
        if sent:
            _ids(sent).update(status=OutboxStatus.SENT, sent_at=now, last_error="")
        stats["sent"] = len(sent)
        unsent = [r for r in ready if r.id not in sent]
        if unsent:
            _record_failures(unsent, result.error, now, stats)
        if held:
            hold(held, now, _ids)
            stats["held"] = len(held)
        return stats


def _record_failures(rows: list[ClaimedRow], error: Exception | None, now, stats: dict) -> None:
    message = f"{type(error).__name__}: {error}"[:1000] if error else "not sent"
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_attempts[row.attempts + 1].append(row.id)
    failed: list[int] = []
    for attempts, ids in by_attempts.items():
        if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            _ids(ids).update(status=OutboxStatus.FAILED, attempts=attempts, last_error=message)
            failed.extend(ids)
        else:
            _ids(ids).update(attempts=attempts, last_error=message,
                             next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts)))
            stats["retrying"] += len(ids)
    log.warning("outbox relay: %d rows not sent (%s); %d failed for good", len(rows), message, len(failed))
    if failed:
        failed.sort()
        stats["failed"] = len(failed)
        admin_alert(kind="outbox.failed",
                    message=f"{len(failed)} outbox event(s) failed after {settings.OUTBOX_MAX_ATTEMPTS} attempts: "
                            f"{message}",
                    data={"outboxIds": failed[:50], "count": len(failed)})


def relay_run(*, max_batches: int | None = None) -> dict:
    """Run passes until no due row is left (or `max_batches`); totals of the passes. A pass that
    claimed less than a batch took every row due at its claim, so the run ends there (one pass per
    run of the relay loop's 20 ms looks, not two).

    In a process that may not send (embedded mode, not the websocket server) it does nothing
    and says so: the serving process relays (outbox.runtime).
    """
    if not runtime.may_send():
        return {"skipped": "embedded mode: the process serving websockets relays (see docs/realtime.md)"}
    totals = {"passes": 0, "claimed": 0, "sent": 0, "retrying": 0, "failed": 0, "held": 0}
    after_id, suspects = 0, set()
    while max_batches is None or totals["passes"] < max_batches:
        stats = relay_pass(after_id=after_id, suspects=suspects)
        after_id = stats.pop("lastId")
        totals["passes"] += 1
        for key, value in stats.items():
            totals[key] += value
        layer_down = stats["sent"] == 0 and (stats["retrying"] or stats["failed"])
        if stats["claimed"] < settings.OUTBOX_RELAY_BATCH or layer_down:
            break  # a part batch took all that was due, or the layer is down: do not hammer it with the backlog
    return totals


def relay_wake() -> int:
    """Make every pending row that failed before due now (the channel layer is back: there is no
    reason to wait out their backoff). Returns how many. Called by the relay loop on recovery."""
    return EventOutbox.objects.filter(status=OutboxStatus.PENDING, attempts__gt=0).update(next_attempt_at=timezone.now())


def relay_has_waiting_failures(*, now=None) -> bool:
    """Whether a pending row failed once (an after-commit send during an outage) and now waits
    for its retry: the relay loop then probes the layer and wakes such rows when it answers."""
    return EventOutbox.objects.filter(status=OutboxStatus.PENDING, attempts=1, next_attempt_at__gt=now or timezone.now()
                                      ).exclude(last_error="").exists()


def outbox_purge(*, now=None) -> int:
    """Delete sent rows older than OUTBOX_RETENTION (resume can no longer reach them).
    Pending and failed rows are kept whatever their age. Returns the number deleted."""
    cutoff = (now or timezone.now()) - settings.OUTBOX_RETENTION
    total = 0
    while True:
        ids = list(EventOutbox.objects.filter(status=OutboxStatus.SENT, created_at__lt=cutoff)
                   .values_list("id", flat=True)[:5000])
        if not ids:
            return total
        total += EventOutbox.objects.filter(id__in=ids).delete()[0]
