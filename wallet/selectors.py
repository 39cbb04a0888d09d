"""Wallet reads."""
from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet, Sum

from .models import Account, Payout, PayoutAccount, Posting, TopupOrder, Transaction, Wallet


def wallet_for_user(*, user) -> Wallet:
    """The user's wallet; an unsaved empty one (0.00 INR) when none was created yet (reads never write).

    Read from the primary (read-your-own-writes after a refund), with the user when the view had
    authentication load it (`user_select_related = ("wallet",)`): then no query at all here.
    """
    try:
        return user.wallet
    except Wallet.DoesNotExist:
        return Wallet(user=user, balance=Decimal("0.00"))


def transaction_list_for_user(*, user) -> QuerySet[Transaction]:
    """Journal entries that moved the user's wallet, newest first."""
    return Transaction.objects.filter(wallet_id=user.pk).order_by("-id")


def payout_list_for_user(*, user) -> QuerySet[Payout]:
    """The user's payouts, newest first."""
    return Payout.objects.filter(wallet_id=user.pk).order_by("-id")


def wallet_balance(*, user_id: int) -> Decimal:
    """The cached balance of the user's wallet (0.00 when it has none)."""
    return Wallet.objects.filter(pk=user_id).values_list("balance", flat=True).first() or Decimal("0.00")


def topup_list_for_user(*, user) -> QuerySet[TopupOrder]:
    """The user's top-up orders, newest first."""
    return TopupOrder.objects.filter(user_id=user.pk).order_by("-id")


def payout_account_list_for_user(*, user) -> QuerySet[PayoutAccount]:
    """The user's payout accounts (active, replaced, removed, disabled), newest first."""
    return PayoutAccount.objects.filter(user_id=user.pk).order_by("-id")


def wallet_balance_after(*, transaction: Transaction) -> Decimal:
    """The wallet balance right after journal entry `transaction` (INR): the sum of the wallet's
    postings up to and including it, in id order. Used to answer a replayed refund as it was
    first answered when the API's idempotency key row was already purged."""
    total = (Posting.objects.filter(account=Account.WALLET, wallet_id=transaction.wallet_id,
                                    transaction_id__lte=transaction.pk)
             .aggregate(total=Sum("amount"))["total"])
    return (total or Decimal("0")).quantize(Decimal("0.01"))
