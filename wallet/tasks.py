"""Celery tasks of the wallet (thin: ids in, services do the work, small dicts out)."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .idempotency import idempotency_keys_purge as _purge
from .models import PayoutStatus

MAX_SUBMIT_ATTEMPTS = 5


@shared_task(acks_late=True)
def payout_submit_task(*, payout_id: int) -> dict:
    """Send a pending payout to the gateway; on a transient failure try again later with backoff
    (the daily reconciliation re-sends whatever is still pending after that)."""
    from .services.payouts import payout_submit

    payout = payout_submit(payout_id=payout_id)
    if (payout.status == PayoutStatus.PENDING and payout.attempts < MAX_SUBMIT_ATTEMPTS
            and not settings.CELERY_TASK_ALWAYS_EAGER):
        payout_submit_task.apply_async(kwargs={"payout_id": payout_id}, countdown=30 * 2 ** payout.attempts)
    return {"payoutId": payout.pk, "status": payout.status, "attempts": payout.attempts}


@shared_task(acks_late=True)
def payout_reconciliation_run() -> dict:
    """Daily 02:00: reconcile payouts with the gateway (see services.reconciliation)."""
    from .services.reconciliation import payout_reconciliation_run as run

    return run()


@shared_task(acks_late=True)
def topup_reconciliation_run() -> dict:
    """Hourly: credit top-up orders whose captured payment reached neither verify nor a webhook."""
    from .services.topups import topup_reconciliation_run as run

    return run()


@shared_task(acks_late=True)
def idempotency_keys_purge() -> dict:
    """Daily: delete idempotency keys older than IDEMPOTENCY_KEY_TTL_HOURS (24 h)."""
    return {"deleted": _purge()}
