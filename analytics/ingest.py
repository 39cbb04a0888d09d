"""Analytics writes, worker side: insert an accepted batch in bulk, keep what cannot be stored as a
dead letter and replay it (docs/search-and-analytics.md, "Dead letters")."""
from __future__ import annotations

import json
import logging
from datetime import datetime

from django.db import DatabaseError, OperationalError, transaction
from django.utils import timezone

from audit.services import audit_record
from core.api.text import storable
from core.errors import Conflict, ErrorCode, NotFound

from .models import AnalyticsDeadLetter, AnalyticsEvent, DeadLetterStatus

log = logging.getLogger(__name__)
# Refusals that a retry would meet again: the database's (DataError, IntegrityError, ...) and a
# malformed event (a missing key, a bad time).
PERMANENT_ERRORS = (DatabaseError, ValueError, TypeError, KeyError)


def _row(*, batch_id: str, user_id: int | None, seq: int, event: dict, received: datetime,
         request_id: str) -> AnalyticsEvent:
    return AnalyticsEvent(batch_id=batch_id, seq=seq, user_id=user_id, name=event["name"],
                          ts=datetime.fromisoformat(event["ts"]), properties=event.get("properties") or {},
                          received_at=received, request_id=request_id)


def _store(rows: list[tuple[int, dict]], **common) -> list[tuple[int, dict, str]]:
    """Insert `(seq, event)` rows: one bulk INSERT, or, when the database refuses it for a
    reason that will not go away on retry, one row at a time so the good rows are kept.
    Returns the `(seq, event, error)` rows that could not be stored. OperationalError (the
    database unreachable, a lock timeout) is transient and propagates for the task to retry."""
    try:
        with transaction.atomic():
            built = [_row(seq=seq, event=e, **common) for seq, e in rows]
            AnalyticsEvent.objects.bulk_create(built, ignore_conflicts=True, batch_size=500)
        return []
    except OperationalError:
        raise
    except PERMANENT_ERRORS:
        pass
    failed = []
    for seq, event in rows:
        try:
            with transaction.atomic():
                AnalyticsEvent.objects.bulk_create([_row(seq=seq, event=event, **common)], ignore_conflicts=True)
        except OperationalError:
            raise
        except PERMANENT_ERRORS as exc:
            failed.append((seq, event, f"{type(exc).__name__}: {exc}"))
    return failed


def events_insert(*, batch_id: str, user_id: int | None, events: list[dict], received_at: str,
                  request_id: str = "") -> dict:
    """Insert a batch with one bulk INSERT. Rows already stored for this batch are skipped
    (unique batch_id + seq), so running it twice stores the batch once.

    Events the database refuses for good (DataError, IntegrityError, a malformed event) do not
    take the batch down: the others are stored and those go to the dead-letter table
    (`dead_letter_write`). Raises OperationalError (transient; the task retries).
    Returns {"stored": int, "deadLettered": int}.
    """
    common = {"batch_id": batch_id, "user_id": user_id, "received": datetime.fromisoformat(received_at),
              "request_id": request_id}
    failed = _store(list(enumerate(events)), **common)
    if failed:
        dead_letter_write(batch_id=batch_id, user_id=user_id, received_at=received_at, request_id=request_id,
                          events=[{"seq": seq, **event} for seq, event, _ in failed], error=failed[0][2])
    return {"stored": len(events) - len(failed), "deadLettered": len(failed)}


def _escaped(text: str) -> str:
    """`text` with NUL, surrogates and other non-ASCII written as JSON escapes (always storable)."""
    return json.dumps(text)[1:-1]


@transaction.atomic
def dead_letter_write(*, batch_id: str, user_id: int | None, events: list[dict], received_at: str,
                      request_id: str = "", error: str) -> AnalyticsDeadLetter:
    """Keep `events` ([{"seq", "name", "ts", "properties"}, ...]) of batch `batch_id` that could
    not be stored. A batch dead-lettered again (a redelivered task, a failed replay) updates its
    row: the events still failing, the new error, one more attempt. Logged at ERROR."""
    text = json.dumps(events, ensure_ascii=True, default=str)
    row = AnalyticsDeadLetter.objects.select_for_update().filter(batch_id=batch_id).first()
    if row is None:
        row = AnalyticsDeadLetter.objects.create(
            batch_id=batch_id, user_id=user_id, events=text, event_count=len(events),
            received_at=datetime.fromisoformat(received_at), request_id=request_id, error=_escaped(error)[:2000])
    else:
        row.events, row.event_count, row.error = text, len(events), _escaped(error)[:2000]
        row.attempts += 1
        row.status = DeadLetterStatus.PENDING
        row.save(update_fields=["events", "event_count", "error", "attempts", "status", "updated_at"])
    log.error("analytics batch %s: %d event(s) dead-lettered (row %s): %s", batch_id, len(events), row.pk,
              row.error[:200])
    return row


def dead_letter_replay(*, dead_letter_id: int, actor, repair: bool = False) -> AnalyticsDeadLetter:
    """Store the events of dead letter `dead_letter_id` again (admin action). With `repair`,
    text the database cannot store is first replaced by U+FFFD (core.api.text.storable).

    Events stored now leave the row; when none is left it becomes `replayed`. Events that fail
    again stay, with the new error and one more attempt. Writes AuditLog `analytics.replay`.
    Raises NotFound; Conflict `already_replayed`. Raises OperationalError (try again later).
    """
    with transaction.atomic():
        row = AnalyticsDeadLetter.objects.select_for_update().filter(pk=dead_letter_id).first()
        if row is None:
            raise NotFound("Dead letter not found.")
        if row.status == DeadLetterStatus.REPLAYED:
            raise Conflict("This batch was already replayed.", code=ErrorCode.ALREADY_REPLAYED)
        events = json.loads(row.events)
        if repair:
            events = storable(events)
        common = {"batch_id": str(row.batch_id), "user_id": row.user_id, "received": row.received_at,
                  "request_id": row.request_id}
        failed = _store([(e.get("seq", i), e) for i, e in enumerate(events)], **common)
        if failed:
            row.events = json.dumps([e for _, e, _ in failed], ensure_ascii=True, default=str)
            row.event_count, row.error = len(failed), _escaped(failed[0][2])[:2000]
            row.attempts += 1
        else:
            row.status, row.replayed_at = DeadLetterStatus.REPLAYED, timezone.now()
        row.save()
        audit_record(action="analytics.replay", entity_type="analytics_dead_letter", entity_id=row.pk, user=actor,
                     metadata={"batchId": str(row.batch_id), "stored": len(events) - len(failed),
                               "stillFailing": len(failed), "repair": repair})
    return row
