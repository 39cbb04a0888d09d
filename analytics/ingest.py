"""Analytics writes, worker side: insert an accepted batch in bulk (docs/search-and-analytics.md)."""
from __future__ import annotations

from datetime import datetime

from .models import AnalyticsEvent


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
