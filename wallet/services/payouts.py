"""Payouts: debit into payouts clearing now, send to the gateway after commit, settle or reverse.

State machine (docs/wallet.md): pending -> processing -> completed | failed | reversed, and pending
straight to any final state. Final states never change: a later contradicting report (e.g.
`payout.reversed` after `payout.processed`) is recorded once as a ReconciliationMismatch and
raised to admins, and moves no money; a human decides (docs/wallet.md: final states never move, the books are never silently rewritten).
Money moves exactly once per payout and state thanks to `Transaction.unique_key`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from core.errors import ErrorCode, NotFound, Unprocessable, ValidationFailed
from notifications.recording import notification_record
from outbox.followups import followup_enqueue

from ..events import admin_alert_event, balance_event, payout_event, publish, publish_admin_alert
from ..gateways import GatewayRejected, GatewayTimeout, GatewayUnavailable, get_gateway
from ..idempotency import Answer, StoredResponse, idempotent_call
from ..models import (
    FINAL_PAYOUT_STATUSES, Account, Payout, PayoutAccountStatus, PayoutStatus, ReconciliationMismatch, TransactionKind,
)
from .ledger import entry_post
from .payout_accounts import payout_account_ready

PAYOUT_SUBMIT_TASK = "wallet.tasks.payout_submit_task"

log = logging.getLogger(__name__)


def gateway_idempotency_key(payout_id: int) -> str:
    """The gateway idempotency key of a payout: derived from its id, so every retry reuses it."""
    return f"dgt-payout-{payout_id}"


@transaction.atomic
def _payout_write(*, user, amount: Decimal, idempotency_key: str) -> Payout:
    account = payout_account_ready(user_id=user.pk)
    payout = Payout.objects.create(wallet_id=user.pk, amount=amount, idempotency_key=idempotency_key,
                                   payout_account=account)
    tx, balance = entry_post(kind=TransactionKind.PAYOUT, user_id=user.pk, wallet_delta=-amount,
                             counter_account=Account.PAYOUTS_CLEARING, ref_id=f"payout:{payout.pk}",
                             reason="payout", created_by=user, unique_key=f"payout:{payout.pk}")
    publish(balance_event(user_id=user.pk, balance=balance, transaction_id=tx.pk), payout_event(payout))
    followup_enqueue(task=PAYOUT_SUBMIT_TASK, kwargs={"payout_id": payout.pk})
    return payout


def payout_request(*, user, amount: Decimal, idempotency_key: str = "") -> tuple[Payout, bool]:
    """Debit `amount` (INR > 0) from the user's wallet into payouts clearing and create a pending
    Payout to the user's active payout account; after commit a task sends it to the gateway.
    Returns (payout, replayed): a repeated non-empty `idempotency_key` returns the first payout and
    debits nothing. Publishes `wallet.balance` and `payouts.update`. Raises InsufficientFunds
    (409 `insufficient_funds`), ValidationFailed (400), Conflict (409 `payout_account_required`,
    `payout_account_cooling_off`, `payout_account_unverified`: see payout_accounts)."""
    if amount <= 0 or amount.as_tuple().exponent < -2:
        raise ValidationFailed("Amount must be greater than zero.", fields={"amount": "Must be greater than zero."})
    try:
        return _payout_write(user=user, amount=amount, idempotency_key=idempotency_key), False
    except IntegrityError:
        earlier = Payout.objects.filter(wallet_id=user.pk, idempotency_key=idempotency_key).first()
        if not idempotency_key or earlier is None:
            raise
        if earlier.amount != amount:  # the key stays on the payout after the API's key row is purged
            raise Unprocessable("This idempotency key was already used for a different payout.",
                                code=ErrorCode.IDEMPOTENCY_KEY_REUSED, fields={"Idempotency-Key": "Used for another payout."})
        return earlier, True


def payout_request_once(*, user, amount: Decimal, idempotency_key: str, fingerprint: str,
                        render: Callable[[Payout], dict]) -> StoredResponse:
    """The API's payout under an Idempotency-Key: the first request runs `payout_request` and
    stores `render(payout)` as its 201 answer in the same transaction; a repeat answers the
    stored bytes (`replayed=True`), as does a repeat caught by the payout's own key after the key
    row was purged. Raises what `payout_request` and `wallet.idempotency.idempotent_call` raise."""
    def handler() -> Answer:
        payout, replayed = payout_request(user=user, amount=amount, idempotency_key=idempotency_key)
        return Answer(status=201, body=render(payout), replayed=replayed)

    return idempotent_call(owner_id=user.pk, key=idempotency_key, fp=fingerprint, handler=handler)


def payout_submit(*, payout_id: int, raise_transient: bool = False) -> Payout:
    """Send a pending payout to the gateway (HTTP outside any transaction) with its derived
    idempotency key, then record the answer. Idempotent: a payout that is no longer pending is
    left alone, and a repeated send returns the same gateway payout. A timeout or gateway error
    leaves it pending (attempts, last_error) for a retry and, with `raise_transient`, raises it
    (GatewayTimeout / GatewayUnavailable) for the task to retry; a rejection fails it (money back)."""
    payout = Payout.objects.select_related("wallet", "payout_account").get(pk=payout_id)
    if payout.status != PayoutStatus.PENDING:
        return payout
    account = payout.payout_account
    if account is not None and account.status == PayoutAccountStatus.DISABLED:
        return payout_transition(payout_id=payout.pk, status=PayoutStatus.FAILED, gateway_status="rejected",
                                 reason="the payout account was disabled by an admin", source="submit")[0]
    # Payouts from before payout accounts existed carry the wallet's hand-set fund account.
    fund_account_id = account.fund_account_id if account is not None else payout.wallet.payout_fund_account_id
    try:
        answer = get_gateway().payout_create(reference=str(payout.pk), amount=payout.amount,
                                             fund_account_id=fund_account_id,
                                             idempotency_key=gateway_idempotency_key(payout.pk))
    except (GatewayTimeout, GatewayUnavailable) as exc:
        log.warning("payout %s: gateway unavailable, stays pending: %s", payout.pk, exc)
        Payout.objects.filter(pk=payout.pk, status=PayoutStatus.PENDING).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:500])
        if raise_transient:
            raise
        return Payout.objects.get(pk=payout.pk)
    except GatewayRejected as exc:
        return payout_transition(payout_id=payout.pk, status=PayoutStatus.FAILED, gateway_status="rejected",
                                 reason=str(exc), source="submit")[0]
    Payout.objects.filter(pk=payout.pk).update(attempts=F("attempts") + 1)
    return payout_transition(payout_id=payout.pk, status=answer.status, gateway_payout_id=answer.gateway_id,
                             gateway_status=answer.raw_status, reason=answer.reason, source="submit")[0]


def _record_mismatch(payout: Payout, *, status: str, gateway_status: str, source: str) -> bool:
    _, created = ReconciliationMismatch.objects.get_or_create(
        payout=payout, our_status=payout.status, gateway_status=gateway_status or status,
        defaults={"source": source})
    if created:
        publish_admin_alert(kind="payout_mismatch",
                            message=f"Payout {payout.pk} is {payout.status} here but {gateway_status or status} "
                                    f"at the gateway ({source}); check it by hand.",
                            payoutId=payout.pk, ourStatus=payout.status, gatewayStatus=gateway_status or status)
    return created


@transaction.atomic
def payout_transition(*, payout_id: int, status: str, source: str, gateway_payout_id: str | None = None,
                      gateway_status: str = "", reason: str = "") -> tuple[Payout, bool]:
    """Move a payout to `status` (a PayoutStatus) as reported by `source` ("submit", "webhook",
    "reconciliation"), with the payout row locked. Returns (payout, changed).

    completed: payouts clearing -> gateway clearing. failed / reversed: the amount goes back to
    the wallet (a payout_reversal entry, unique per payout, so exactly once). Publishes
    `payouts.update` (+ `wallet.balance` when the wallet moved) and records `payout_completed` /
    `payout_failed`. No move out of a final state, and none back to pending: a contradiction of a
    final state is recorded as a mismatch (once). Raises NotFound.
    """
    try:
        payout = Payout.objects.select_for_update().get(pk=payout_id)
    except Payout.DoesNotExist:
        raise NotFound(f"Payout {payout_id} not found.") from None
    if gateway_payout_id and not payout.gateway_payout_id:
        payout.gateway_payout_id = gateway_payout_id
    if payout.status in FINAL_PAYOUT_STATUSES:
        if status in FINAL_PAYOUT_STATUSES and status != payout.status:
            _record_mismatch(payout, status=status, gateway_status=gateway_status, source=source)
        return payout, False
    if status == payout.status or status == PayoutStatus.PENDING:
        if gateway_status:
            payout.gateway_status = gateway_status
        payout.save(update_fields=["gateway_payout_id", "gateway_status", "updated_at"])
        return payout, False
    payout.status = status
    payout.gateway_status = gateway_status or payout.gateway_status
    if status in (PayoutStatus.FAILED, PayoutStatus.REVERSED):
        payout.failure_reason = (reason or gateway_status or status)[:500]
    payout.last_error = ""
    payout.save(update_fields=["status", "gateway_payout_id", "gateway_status", "failure_reason", "last_error",
                               "updated_at"])
    ref = f"payout:{payout.pk}"
    events = [payout_event(payout)]
    if status == PayoutStatus.COMPLETED:
        entry_post(kind=TransactionKind.PAYOUT_SETTLEMENT, user_id=None, wallet_delta=payout.amount,
                   counter_account=Account.PAYOUTS_CLEARING, extra_postings=(Account.GATEWAY_CLEARING,),
                   ref_id=ref, reason=f"payout completed ({source})", unique_key=f"payout_settlement:{payout.pk}")
    elif status in (PayoutStatus.FAILED, PayoutStatus.REVERSED):
        tx, balance = entry_post(kind=TransactionKind.PAYOUT_REVERSAL, user_id=payout.wallet_id,
                                 wallet_delta=payout.amount, counter_account=Account.PAYOUTS_CLEARING, ref_id=ref,
                                 reason=f"payout {status} ({source}): {payout.failure_reason}"[:2000],
                                 unique_key=f"payout_reversal:{payout.pk}")
        events.append(balance_event(user_id=payout.wallet_id, balance=balance, transaction_id=tx.pk))
        # The live admin dashboard lists failed payouts (docs/realtime.md).
        events.append(admin_alert_event(
            kind="payout.failed", message=f"Payout #{payout.pk} of {payout.amount} INR to user "
                                          f"{payout.wallet_id} {status}: {payout.failure_reason}",
            payoutId=payout.pk, userId=payout.wallet_id, amount=payout.amount, status=status))
    publish(*events)
    if status in FINAL_PAYOUT_STATUSES:
        template = "payout_completed" if status == PayoutStatus.COMPLETED else "payout_failed"
        notification_record(user_id=payout.wallet_id, template_key=template,
                             payload={"payoutId": payout.pk, "amount": payout.amount, "status": status,
                                      "reason": payout.failure_reason},
                             dedupe_key=f"{template}:{payout.pk}")
    return payout, True
