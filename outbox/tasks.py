"""Periodic outbox jobs (dgt.jobs): thin, idempotent, safe to run twice at once."""
from celery import shared_task

from .relay import outbox_purge, relay_run


@shared_task(name="outbox.tasks.outbox_relay_run")
def outbox_relay_run() -> dict:
    """Send every due pending outbox row (two at once claim disjoint rows: SKIP LOCKED)."""
    return relay_run()


@shared_task(name="outbox.tasks.outbox_purge_run")
def outbox_purge_run() -> dict:
    """Delete sent rows older than OUTBOX_RETENTION."""
    return {"deleted": outbox_purge()}
