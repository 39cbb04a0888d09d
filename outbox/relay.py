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
`relay_run` repeats passes until nothing due is left. Sources: Sentry's outbox drain, DESIGN.md.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import runtime
from .models import EventOutbox, OutboxStatus
from .services import earlier_failed_groups
from .transport import send_batch

log = logging.getLogger(__name__)


def backoff_seconds(attempts: int) -> int:
    """Delay before the next attempt after `attempts` failed ones (1, 2, ...): doubling, capped.

    With the defaults (base 10 s, cap 3600 s): 10, 20, 40, 80, ... 2560, 3600, 3600 ...
    """
    base = settings.OUTBOX_BACKOFF_BASE_SECONDS
    return int(min(base * 2 ** max(attempts - 1, 0), settings.OUTBOX_BACKOFF_MAX_SECONDS))


def _claim(batch_size: int, now) -> list[EventOutbox]:
    return list(
        EventOutbox.objects.select_for_update(skip_locked=True)
        .filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .order_by("id")[:batch_size]
    )


def relay_pass(*, batch_size: int | None = None) -> dict:
    """One claim-send-mark pass. Returns {"claimed", "sent", "retrying", "failed", "held"}."""
    batch_size = batch_size or settings.OUTBOX_RELAY_BATCH
    with transaction.atomic():
        now = timezone.now()
        rows = _claim(batch_size, now)
        stats = {"claimed": len(rows), "sent": 0, "retrying": 0, "failed": 0, "held": 0}
        if not rows:
            return stats
        blockers = earlier_failed_groups(groups={r.group for r in rows}, before_id=rows[-1].id,
                                         exclude_ids=[r.id for r in rows])
        # A row that cannot go blocks the later rows of its group in this batch as well.
        ready, held = [], []
        for row in rows:
            if row.group in blockers and blockers[row.group] < row.id:
                held.append(row.id)
            else:
                ready.append(row)
        result = send_batch(ready)
        sent = set(result.sent)
        if sent:
            EventOutbox.objects.filter(id__in=sent).update(status=OutboxStatus.SENT, sent_at=now, last_error="")
        stats["sent"] = len(sent)
        unsent = [r for r in ready if r.id not in sent]
        if unsent:
            _record_failures(unsent, result.error, now, stats)
        if held:
            # Wait behind the earlier row rather than being claimed again at once.
            EventOutbox.objects.filter(id__in=held).update(
                next_attempt_at=now + timedelta(seconds=settings.OUTBOX_BACKOFF_BASE_SECONDS))
            stats["held"] = len(held)
        return stats


def _record_failures(rows: list[EventOutbox], error: Exception | None, now, stats: dict) -> None:
    message = f"{type(error).__name__}: {error}"[:1000] if error else "not sent"
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_attempts[row.attempts + 1].append(row.id)
    failed: list[int] = []
    for attempts, ids in by_attempts.items():
        if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            EventOutbox.objects.filter(id__in=ids).update(status=OutboxStatus.FAILED, attempts=attempts,
                                                          last_error=message)
            failed.extend(ids)
        else:
            EventOutbox.objects.filter(id__in=ids).update(
                attempts=F("attempts") + 1, last_error=message,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts)))
            stats["retrying"] += len(ids)
    log.warning("outbox relay: %d rows not sent (%s); %d failed for good", len(rows), message, len(failed))
    if failed:
        from .alerts import admin_alert

        failed.sort()
        stats["failed"] = len(failed)
        admin_alert(kind="outbox.failed",
                    message=f"{len(failed)} outbox event(s) failed after {settings.OUTBOX_MAX_ATTEMPTS} attempts: "
                            f"{message}",
                    data={"outboxIds": failed[:50], "count": len(failed)})


def relay_run(*, max_batches: int | None = None) -> dict:
    """Run passes until no due row is left (or `max_batches`); totals of the passes.

    In a process that may not send (embedded mode, not the websocket server) it does nothing
    and says so: the serving process relays (outbox.runtime).
    """
    if not runtime.may_send():
        return {"skipped": "embedded mode: the process serving websockets relays (see docs/realtime.md)"}
    totals = {"passes": 0, "claimed": 0, "sent": 0, "retrying": 0, "failed": 0, "held": 0}
    while max_batches is None or totals["passes"] < max_batches:
        stats = relay_pass()
        totals["passes"] += 1
        for key, value in stats.items():
            totals[key] += value
        if stats["claimed"] == 0 or stats["sent"] == 0:
            break
    return totals


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
