"""Analytics writes, request side: accept a validated batch and queue it after commit
(analytics.tasks.events_ingest stores it with analytics.ingest.events_insert)."""
from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from core.context import current

from .tasks import events_ingest


@transaction.atomic
def events_enqueue(*, user_id: int | None, events: list[dict]) -> dict:
    """Queue a validated batch (1..ANALYTICS_MAX_BATCH dicts of {name, ts (aware datetime),
    properties (dict)}) for `analytics.tasks.events_ingest` once the transaction commits.

    Nothing is written here: the request only pays for validation. Returns
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
    transaction.on_commit(lambda: events_ingest.delay(**kwargs))
    return {"batchId": batch_id, "accepted": len(events)}
