"""Analytics writes: accept a validated batch (queue it after commit), insert it in bulk."""
from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.context import current

from .models import AnalyticsEvent


@transaction.atomic
def events_enqueue(*, user_id: int | None, events: list[dict]) -> dict:
    """Queue a validated batch (1..ANALYTICS_MAX_BATCH dicts of {name, ts (aware datetime),
    properties (dict)}) for `analytics.tasks.events_ingest` once the transaction commits.

    Nothing is written here: the request only pays for validation. Returns
    {"batchId": str, "accepted": int}.
    """
    from .tasks import events_ingest

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


def events_insert(*, batch_id: str, user_id: int | None, events: list[dict], received_at: str,
                  request_id: str = "") -> int:
    """Insert a batch with one bulk INSERT. Rows already stored for this batch are skipped
    (unique batch_id + seq), so running it twice stores the batch once. Returns the batch size."""
    received = datetime.fromisoformat(received_at)
    rows = [
        AnalyticsEvent(batch_id=batch_id, seq=seq, user_id=user_id, name=e["name"], ts=datetime.fromisoformat(e["ts"]),
                       properties=e.get("properties") or {}, received_at=received, request_id=request_id)
        for seq, e in enumerate(events)
    ]
    AnalyticsEvent.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)
