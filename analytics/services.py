"""Analytics writes, request side: accept a validated batch and queue it (503 when the broker is down)
(analytics.tasks.events_ingest stores it with analytics.ingest.events_insert)."""
from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from core.breaker import breaker
from core.context import current
from core.errors import ServiceUnavailable
from outbox.followups import request_connection, request_connection_reset

from .tasks import events_ingest

BROKER = breaker("broker")


@transaction.atomic
def events_enqueue(*, user_id: int | None, events: list[dict]) -> dict:
    """Queue a validated batch (1..ANALYTICS_MAX_BATCH dicts of {name, ts (aware datetime),
    properties (dict)}) for `analytics.tasks.events_ingest`.

    Nothing is written here: the request only pays for validation and one broker publish. With
    the broker down or hung it raises ServiceUnavailable (503 + Retry-After): nothing was
    accepted, so the client keeps the batch and sends it again (docs/operations.md). Returns
    {"batchId": str, "accepted": int}.
    """
    batch_id = str(uuid.uuid4())
    kwargs = {
        "batch_id": batch_id,
        "user_id": user_id,
        "events": [{"name": e["name"], "ts": e["ts"].isoformat(), "properties": e.get("properties") or {}}
                   for e in events],
        "received_at": timezone.now().isoformat(),
        "request_id": current().request_id,
    }
    # Not robust on purpose: nothing was written, so a broker error may fail the request (503).
    transaction.on_commit(lambda: _queue(kwargs))
    return {"batchId": batch_id, "accepted": len(events)}


def _queue(kwargs: dict) -> None:
    if not BROKER.allow():
        raise ServiceUnavailable("The event queue is unavailable; retry the batch shortly.")
    try:
        events_ingest.apply_async(kwargs=kwargs, connection=request_connection())
    except Exception as exc:  # broker down or hung: nothing was accepted, the client keeps the batch
        BROKER.failure()
        request_connection_reset()
        raise ServiceUnavailable("The event queue is unavailable; retry the batch shortly.") from exc
    BROKER.success()
