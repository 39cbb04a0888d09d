"""The ledger core: journal entries with balanced postings and the guarded wallet UPDATE.

Rule (docs/wallet.md): a wallet balance changes only here, inside the caller's transaction,
through one `UPDATE ... SET balance = balance + d WHERE user_id = u AND balance + d >= 0
RETURNING balance`. The UPDATE takes the row lock, so everything after it in the transaction is
serialized per wallet; the WHERE makes an overdraft impossible even under concurrency (PostgreSQL
re-evaluates it on the newest row version after waiting for the lock).
"""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from audit.services import audit_record
from core.compiled import CompiledInsert
from core.context import current
from core.errors import Conflict, ErrorCode, NotFound, Unprocessable, ValidationFailed

from ..events import publish_balance
from ..fields import from_paise, to_paise
from ..models import CENT, Account, Posting, Transaction, TransactionKind, Wallet

# The largest balance a wallet may hold; a credit beyond it is refused with 422. Balances are
# integer paise in the database (wallet.fields.PaiseField), so the guard and the sum are exact
# integer arithmetic on SQLite and PostgreSQL alike.
MAX_BALANCE = Decimal("999999999999.99")
_APPLY_SQL = (
    f"UPDATE {Wallet._meta.db_table} SET balance = balance + %s, updated_at = %s "
    f"WHERE user_id = %s AND balance + %s >= 0 AND balance + %s <= {to_paise(MAX_BALANCE)} RETURNING balance"
)
# The entry and its postings: one INSERT each, SQL built once (core.compiled; no save(), no signals).
_TX_INSERT = CompiledInsert(Transaction)
_POSTINGS_INSERT = CompiledInsert(Posting)


class InsufficientFunds(Conflict, code=ErrorCode.INSUFFICIENT_FUNDS):
    """A debit larger than the wallet's balance: 409 `insufficient_funds`, nothing written."""


class BalanceLimitExceeded(Unprocessable, code=ErrorCode.BALANCE_LIMIT_EXCEEDED):
    """A credit that would take the balance over MAX_BALANCE: 422 `balance_limit_exceeded`."""


def money(value) -> Decimal:
    """An INR value (Decimal, int or str) as a 2-place Decimal."""
    return Decimal(str(value)).quantize(CENT)


def wallet_ensure(*, user_id: int) -> Wallet:
    """The user's wallet, created (balance 0.00 INR) if missing. Raises NotFound for no such user."""
    wallet = Wallet.objects.filter(pk=user_id).first()
    if wallet is not None:
        return wallet
    if not get_user_model().objects.filter(pk=user_id).exists():
        raise NotFound(f"User {user_id} not found.", fields={"userId": "No such user."})
    wallet, _ = Wallet.objects.get_or_create(user_id=user_id)
    return wallet


def wallet_apply(*, user_id: int, delta: Decimal) -> Decimal:
    """Add `delta` (INR, signed) to the user's wallet with one guarded UPDATE; return the new
    balance. Must run inside a transaction: the row stays locked until it ends. Creates the
    wallet on first use. Raises InsufficientFunds (409) when the balance would go below zero,
    BalanceLimitExceeded (422) above MAX_BALANCE, NotFound when the user does not exist."""
    if connection.get_autocommit():
        raise RuntimeError("wallet_apply must run inside transaction.atomic(): the row lock ends with it")
    with connection.cursor() as cursor:
        paise = to_paise(delta)
        params = [paise, timezone.now(), user_id, paise, paise]
        cursor.execute(_APPLY_SQL, params)
        row = cursor.fetchone()
        if row is None:
            # Error path only: the wallet is missing (create it, then retry), would overdraw or overflow.
            wallet = wallet_ensure(user_id=user_id)
            if wallet.balance + delta > MAX_BALANCE:
                raise BalanceLimitExceeded(f"The wallet balance cannot exceed {MAX_BALANCE} INR.",
                                           fields={"amount": "Would take the balance over the limit."})
            if wallet.balance + delta >= 0:
                cursor.execute(_APPLY_SQL, params)
                row = cursor.fetchone()
    if row is None:
        raise InsufficientFunds("Insufficient funds in the wallet.", fields={"amount": "Exceeds the wallet balance."})
    return from_paise(row[0])


def entry_post(*, kind: str, user_id: int | None, wallet_delta: Decimal, counter_account: str,
               ref_id: str = "", reason: str = "", created_by=None, idempotency_key: str = "",
               unique_key: str | None = None, extra_postings: tuple = (),
               before_lock: Callable[[Transaction], None] | None = None) -> tuple[Transaction, Decimal | None]:
    """Write one journal entry moving `wallet_delta` (signed INR) between the user's wallet and
    `counter_account`, and apply it to the wallet balance. Returns (transaction, new balance).

    With `user_id=None` the entry moves `wallet_delta` from `counter_account` into the first
    `extra_postings` account (platform to platform). Must run inside a transaction. The journal
    rows are inserted before the wallet row is locked, so the lock is held for as few statements
    as possible; inside core.compiled.inserts_together the postings (and what `before_lock`
    inserts) wait for that block's one statement instead, the entry is written at once (its key is
    read here). Raises InsufficientFunds, NotFound, IntegrityError on a duplicate unique_key or
    idempotency_key (the caller decides whether that is a replay).
    """
    if wallet_delta == 0 or wallet_delta.as_tuple().exponent < -2:
        raise ValidationFailed("Amount must be non-zero with at most 2 decimal places.", fields={"amount": "Invalid."})
    tx = _TX_INSERT.insert([Transaction(kind=kind, wallet_id=user_id, amount=wallet_delta, ref_id=ref_id, reason=reason,
                                        created_by=created_by, idempotency_key=idempotency_key, unique_key=unique_key,
                                        request_id=current().request_id)], at_once=True)[0]
    if user_id is not None:
        postings = [Posting(transaction=tx, account=Account.WALLET, wallet_id=user_id, amount=wallet_delta),
                    Posting(transaction=tx, account=counter_account, amount=-wallet_delta)]
    else:
        postings = [Posting(transaction=tx, account=extra_postings[0], amount=wallet_delta),
                    Posting(transaction=tx, account=counter_account, amount=-wallet_delta)]
    _POSTINGS_INSERT.insert(postings)
    if before_lock is not None:
        before_lock(tx)
    balance = wallet_apply(user_id=user_id, delta=wallet_delta) if user_id is not None else None
    return tx, balance


@transaction.atomic
def charge_create(*, user_id: int, amount: Decimal, ref_id: str, reason: str, actor=None,
                  idempotency_key: str = "") -> Transaction:
    """Debit `amount` (INR > 0) from the user's wallet into platform fees against `ref_id`
    (e.g. a paid listing's fee). Refunds against `ref_id` are capped by the sum of its charges.
    Publishes `wallet.balance`; audited when an actor is given. Raises InsufficientFunds (409),
    NotFound, ValidationFailed (empty refId, amount <= 0)."""
    if amount <= 0:
        raise ValidationFailed("Amount must be greater than zero.", fields={"amount": "Must be greater than zero."})
    if not ref_id:
        raise ValidationFailed.required("refId", "A charge needs a refId.")
    tx, balance = entry_post(kind=TransactionKind.CHARGE, user_id=user_id, wallet_delta=-amount,
                             counter_account=Account.FEES, ref_id=ref_id, reason=reason, created_by=actor,
                             idempotency_key=idempotency_key)
    if actor is not None:
        audit_record(action="wallet.charge", entity_type="wallet", entity_id=user_id, user=actor, reason=reason,
                     metadata={"amount": str(amount), "refId": ref_id, "transactionId": tx.pk})
    publish_balance(user_id=user_id, balance=balance, transaction_id=tx.pk)
    return tx


@transaction.atomic
def topup_credit(*, user_id: int, amount: Decimal, payment_id: str, reason: str = "top-up") -> tuple[Transaction, bool]:
    """Credit a captured gateway payment `payment_id` of `amount` (INR > 0) to the user's wallet
    from gateway clearing, once per payment id (unique_key; a repeat returns the first entry and
    False). Publishes `wallet.balance`. Raises NotFound for no such user."""
    earlier = Transaction.objects.filter(unique_key=f"topup:{payment_id}").first()
    if earlier is not None:
        return earlier, False
    tx, balance = entry_post(kind=TransactionKind.TOPUP, user_id=user_id, wallet_delta=amount,
                             counter_account=Account.GATEWAY_CLEARING, ref_id=payment_id, reason=reason,
                             unique_key=f"topup:{payment_id}")
    publish_balance(user_id=user_id, balance=balance, transaction_id=tx.pk)
    return tx, True
