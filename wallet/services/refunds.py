"""Refunds: credit a wallet from the platform's refunds account, capped per refId.

Rule (docs/wallet.md): refunds against a refId never exceed what was charged against
it, cumulatively; a refId with no charge is a goodwill credit, and goodwill against one refId
never exceeds REFUND_GOODWILL_MAX in total. The cap is checked after the wallet row is locked,
so concurrent refunds against one refId are serialized and cannot both pass.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum

from audit.services import audit_record
from core.compiled import CompiledRows, inserts_together
from core.errors import ErrorCode, Unprocessable, ValidationFailed
from notifications.recording import notification_record

from ..events import admin_alert_event, balance_event, publish
from ..idempotency import Answer, StoredResponse, idempotent_call
from ..models import Account, Transaction, TransactionKind
from ..selectors import wallet_balance_after
from .ledger import entry_post, money


def _ref_totals_query(user_id: int, ref_id: str):
    return (Transaction.objects.filter(wallet_id=user_id, ref_id=ref_id,
                                       kind__in=[TransactionKind.CHARGE, TransactionKind.REFUND])
            .values_list("kind").annotate(total=Sum("amount")).order_by())


# (kind, total INR) of the charges and refunds against one refId, compiled once (core.compiled).
_REF_TOTALS = CompiledRows(Transaction, _ref_totals_query)


@dataclass(frozen=True)
class RefundResult:
    """The refund's journal entry, the wallet balance right after it (INR), and whether this call
    replayed an earlier refund with the same idempotency key."""

    transaction: Transaction
    balance: Decimal
    replayed: bool = False


def _check_cap(*, user_id: int, ref_id: str, amount: Decimal) -> None:
    """Raise Unprocessable when the refunds against `ref_id` (including this one, already
    written) exceed its charges, or REFUND_GOODWILL_MAX when it has none. Wallet row locked."""
    totals = dict(_REF_TOTALS.rows(user_id, ref_id))
    charged = -money(totals.get(TransactionKind.CHARGE) or 0)
    refunded = money(totals.get(TransactionKind.REFUND) or 0)
    if charged > 0:
        if refunded > charged:
            left = charged - (refunded - amount)
            raise Unprocessable(
                f"Refunds against {ref_id!r} would exceed its charges of {charged} (refundable now: {left}).",
                code=ErrorCode.REFUND_EXCEEDS_CHARGE, fields={"amount": f"At most {left}."})
    elif refunded > settings.REFUND_GOODWILL_MAX:
        left = settings.REFUND_GOODWILL_MAX - (refunded - amount)
        raise Unprocessable(
            f"{ref_id!r} has no charge; goodwill credit is limited to {settings.REFUND_GOODWILL_MAX} "
            f"(available now: {max(left, Decimal('0.00'))}).",
            code=ErrorCode.GOODWILL_LIMIT_EXCEEDED, fields={"amount": f"At most {max(left, Decimal('0.00'))}."})


def _refund_check(*, amount: Decimal, reason: str, ref_id: str) -> None:
    if amount <= 0 or amount.as_tuple().exponent < -2:
        raise ValidationFailed("Amount must be greater than zero with at most 2 places.",
                               fields={"amount": "Must be greater than zero."})
    if not ref_id or not reason or not reason.strip():
        missing = "refId" if not ref_id else "reason"
        raise ValidationFailed.required(missing)


def _refund_write(*, user_id: int, amount: Decimal, reason: str, ref_id: str, actor,
                  idempotency_key: str) -> RefundResult:
    """The refund's writes, in the caller's transaction (no block of its own). Raises IntegrityError
    when the journal already holds `idempotency_key` for `actor` (the caller's transaction is then broken).
    On PostgreSQL the postings, the audit row, the outbox rows and the follow-up are written with
    ONE statement at the end (core.compiled.inserts_together; docs/benchmarks.md)."""
    with inserts_together():
        return _refund_rows(user_id=user_id, amount=amount, reason=reason, ref_id=ref_id, actor=actor,
                            idempotency_key=idempotency_key)


def _refund_rows(*, user_id: int, amount: Decimal, reason: str, ref_id: str, actor,
                 idempotency_key: str) -> RefundResult:
    # The audit row does not need the new balance: it is queued before the wallet row is locked
    # (inside entry_post's UPDATE); SQLite writes it then, PostgreSQL with the block's one statement.
    def before_lock(tx: Transaction) -> None:
        audit_record(action="wallet.refund", entity_type="wallet", entity_id=user_id, user=actor, reason=reason,
                     metadata={"amount": str(amount), "refId": ref_id, "transactionId": tx.pk})

    tx, balance = entry_post(kind=TransactionKind.REFUND, user_id=user_id, wallet_delta=amount,
                             counter_account=Account.REFUNDS, ref_id=ref_id, reason=reason, created_by=actor,
                             idempotency_key=idempotency_key, before_lock=before_lock)
    _check_cap(user_id=user_id, ref_id=ref_id, amount=amount)
    publish(balance_event(user_id=user_id, balance=balance, transaction_id=tx.pk),
            admin_alert_event(kind="refund", message=f"Refund of {amount} INR to user {user_id} ({ref_id}).",
                              userId=user_id, amount=amount, refId=ref_id, transactionId=tx.pk, actorId=actor.pk))
    notification_record(user_id=user_id, template_key="refund_issued",
                         payload={"amount": amount, "refId": ref_id, "reason": reason, "balance": balance,
                                  "transactionId": tx.pk},
                         dedupe_key=f"refund_issued:{tx.pk}")
    return RefundResult(transaction=tx, balance=balance)


def refund_issue(*, user_id: int, amount: Decimal, reason: str, ref_id: str, actor,
                 idempotency_key: str = "") -> RefundResult:
    """Credit `amount` (INR, > 0, 2 places) to the user's wallet against `ref_id`.

    In one transaction: the journal entry (wallet +amount, refunds -amount), the guarded balance
    UPDATE, the refId cap check, one AuditLog row, `wallet.balance` to the user and `admin.alert`
    to admins; `refund_issued` is recorded (sent after commit). A non-empty `idempotency_key` is unique
    per actor: a second call with it returns the first refund (`replayed=True`) and credits
    nothing, with the balance as of that entry; the key stays on the journal entry forever, so it
    can never credit twice, even after the API's key row is purged (a different refund under it
    is 422 `idempotency_key_reused`).
    Raises ValidationFailed (400), NotFound (404, no such user), Unprocessable (422:
    `refund_exceeds_charge`, `goodwill_limit_exceeded`).
    """
    _refund_check(amount=amount, reason=reason, ref_id=ref_id)
    try:
        # Its own transaction, or a savepoint inside the caller's: the lookup below must still run.
        with transaction.atomic():
            return _refund_write(user_id=user_id, amount=amount, reason=reason.strip(), ref_id=ref_id, actor=actor,
                                 idempotency_key=idempotency_key)
    except IntegrityError:
        if not idempotency_key:
            raise
        earlier = Transaction.objects.filter(created_by=actor, kind=TransactionKind.REFUND,
                                             idempotency_key=idempotency_key).first()
        if earlier is None:
            raise
        if (earlier.wallet_id, earlier.amount, earlier.ref_id) != (user_id, amount, ref_id):
            raise Unprocessable("This idempotency key was already used for a different refund.",
                                code=ErrorCode.IDEMPOTENCY_KEY_REUSED, fields={"Idempotency-Key": "Used for another refund."})
        return RefundResult(transaction=earlier, balance=wallet_balance_after(transaction=earlier), replayed=True)


def refund_request(*, user_id: int, amount: Decimal, reason: str, ref_id: str, actor, idempotency_key: str,
                   fingerprint: str, render: Callable[[RefundResult], dict]) -> StoredResponse:
    """The API's refund under an Idempotency-Key: one layer the view sees (docs/wallet.md).

    The first request issues the refund (what `refund_issue` writes, directly in idempotent_call's
    transaction: no savepoint) and stores `render(result)` as its 201 answer in the same
    transaction; a repeat with the same key and `fingerprint` answers the stored bytes with
    `replayed=True`. When the key row was already purged, the ledger's own key catches the repeat:
    that transaction fails and rolls back, and a second one (`refund_issue`) renders the answer
    from the first journal entry and the balance right after it, also `replayed=True`, or raises
    422 `idempotency_key_reused` for a different refund. Invalid input raises before the key is
    claimed. Raises what `refund_issue` and `wallet.idempotency.idempotent_call` raise.
    """
    _refund_check(amount=amount, reason=reason, ref_id=ref_id)

    def handler() -> Answer:
        # Straight in idempotent_call's transaction: no savepoint of its own (two statements fewer,
        # docs/benchmarks.md). A journal entry already holding the key (its key row was purged) fails
        # the whole transaction with IntegrityError; the claim is released and the retry below replays.
        result = _refund_write(user_id=user_id, amount=amount, reason=reason.strip(), ref_id=ref_id, actor=actor,
                               idempotency_key=idempotency_key)
        return Answer(status=201, body=render(result))

    def replay_handler() -> Answer:
        result = refund_issue(user_id=user_id, amount=amount, reason=reason, ref_id=ref_id, actor=actor,
                              idempotency_key=idempotency_key)
        return Answer(status=201, body=render(result), replayed=result.replayed)

    try:
        return idempotent_call(owner_id=actor.pk, key=idempotency_key, fp=fingerprint, handler=handler)
    except IntegrityError:
        # Rare: the same key after its key row was purged. refund_issue finds the first journal entry
        # (under a savepoint) and the answer is rendered from it, stored under the key again.
        return idempotent_call(owner_id=actor.pk, key=idempotency_key, fp=fingerprint, handler=replay_handler)
