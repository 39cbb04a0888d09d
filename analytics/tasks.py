"""Celery tasks of the `analytics` queue (CELERY_TASK_ROUTES routes analytics.tasks.*)."""
from django.db import OperationalError

from core.tasks import retrying_task

from .ingest import dead_letter_write, events_insert


@retrying_task(bind=True, acks_late=True)
def events_ingest(self, *, batch_id: str, user_id: int | None, events: list[dict], received_at: str,
                  request_id: str = "") -> dict:
    """Bulk-insert one accepted batch (idempotent per batch_id). Returns {"batchId", "stored",
    "deadLettered"}.

    Events the database refuses go to the dead-letter table at once (ingest.events_insert).
    A transient error (OperationalError) is retried as every task retries (core.tasks: backoff,
    jitter, `max_retries`); a batch still failing on the last try goes to the dead-letter table
    whole. Nothing accepted is dropped (docs/search-and-analytics.md, "Dead letters").
    """
    kwargs = {"batch_id": batch_id, "user_id": user_id, "events": events, "received_at": received_at,
              "request_id": request_id}
    try:
        result = events_insert(**kwargs)
    except OperationalError as exc:
        if self.request.retries < self.max_retries:
            raise  # autoretry_for: retried with backoff
        dead_letter_write(**{**kwargs, "events": [{"seq": seq, **e} for seq, e in enumerate(events)]},
                          error=f"{type(exc).__name__}: {exc} (after {self.max_retries} retries)")
        result = {"stored": 0, "deadLettered": len(events)}
    return {"batchId": batch_id, **result}
