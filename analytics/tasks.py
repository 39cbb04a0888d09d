"""Celery tasks of the `analytics` queue (CELERY_TASK_ROUTES routes analytics.tasks.*)."""
from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db import OperationalError

from .ingest import dead_letter_write, events_insert

MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def events_ingest(self, *, batch_id: str, user_id: int | None, events: list[dict], received_at: str,
                  request_id: str = "") -> dict:
    """Bulk-insert one accepted batch (idempotent per batch_id). Returns {"batchId", "stored",
    "deadLettered"}.

    Events the database refuses go to the dead-letter table at once (services.events_insert).
    A transient error (OperationalError) is retried MAX_RETRIES times with exponential backoff
    and full jitter (inline, one after the other, when tasks run eagerly); a batch still failing
    after the last retry goes to the dead-letter table whole. Nothing accepted is dropped
    (docs/search-and-analytics.md, "Dead letters").
    """
    kwargs = {"batch_id": batch_id, "user_id": user_id, "events": events, "received_at": received_at,
              "request_id": request_id}
    try:
        result = events_insert(**kwargs)
    except OperationalError as exc:
        retries = self.request.retries
        if retries < MAX_RETRIES:
            if self.request.is_eager:
                return self.apply(kwargs=kwargs, retries=retries + 1, throw=True).result
            raise self.retry(exc=exc, countdown=get_exponential_backoff_interval(
                factor=1, retries=retries, maximum=600, full_jitter=True)) from exc
        dead_letter_write(**{**kwargs, "events": [{"seq": seq, **e} for seq, e in enumerate(events)]},
                          error=f"{type(exc).__name__}: {exc} (after {MAX_RETRIES} retries)")
        result = {"stored": 0, "deadLettered": len(events)}
    return {"batchId": batch_id, **result}
