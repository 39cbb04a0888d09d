"""Celery tasks of the wallet (thin: ids in, services do the work, small dicts out)."""
from __future__ import annotations

from core.tasks import retrying_task

from .gateways import GatewayTimeout, GatewayUnavailable
from .idempotency import idempotency_keys_purge as _purge


@retrying_task(bind=True, acks_late=True, transient=(GatewayTimeout, GatewayUnavailable), max_retries=5,
               backoff=30, backoff_max=3600)
def payout_submit_task(self, *, payout_id: int) -> dict:
    """Send a pending payout to the gateway (core.tasks retry style): a timeout or an unavailable
    gateway is recorded on the payout (attempts, last_error) and retried with backoff and jitter;
    after the last retry the payout stays `pending` with its last_error, visible in admin, and the
    daily reconciliation sends it again. A rejection fails it (money back)."""
    from .services.payouts import payout_submit

    payout = payout_submit(payout_id=payout_id, raise_transient=self.request.retries < self.max_retries)
    return {"payoutId": payout.pk, "status": payout.status, "attempts": payout.attempts}


@retrying_task(acks_late=True)
def payout_reconciliation_run() -> dict:
    """Daily 02:00: reconcile payouts with the gateway (see services.reconciliation)."""
    from .services.reconciliation import payout_reconciliation_run as run

    return run()


@retrying_task(acks_late=True)
def topup_reconciliation_run() -> dict:
    """Hourly: credit top-up orders whose captured payment reached neither verify nor a webhook."""
    from .services.topups import topup_reconciliation_run as run

    return run()


@retrying_task(acks_late=True)
def idempotency_keys_purge() -> dict:
    """Daily: delete idempotency keys older than IDEMPOTENCY_KEY_TTL_HOURS (24 h)."""
    return {"deleted": _purge()}
