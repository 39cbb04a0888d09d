"""Celery tasks of the `analytics` queue (CELERY_TASK_ROUTES routes analytics.tasks.*)."""
from celery import shared_task
from django.db import OperationalError

from .ingest import events_insert


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def events_ingest(*, batch_id: str, user_id: int | None, events: list[dict], received_at: str,
                  request_id: str = "") -> dict:
    """Bulk-insert one accepted batch (idempotent per batch_id). Returns {"batchId", "events"}."""
    count = events_insert(batch_id=batch_id, user_id=user_id, events=events, received_at=received_at,
                          request_id=request_id)
    return {"batchId": batch_id, "events": count}
