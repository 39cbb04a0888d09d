"""Events the wallet app emits (DESIGN.md Events): `wallet.balance`, `payouts.update`, `admin.alert`."""
from __future__ import annotations

from decimal import Decimal

from outbox.services import GROUP_ADMIN, publish, user_group

WALLET_BALANCE = "wallet.balance"
PAYOUTS_UPDATE = "payouts.update"
ADMIN_ALERT = "admin.alert"


def publish_balance(*, user_id: int, balance: Decimal, transaction_id: int) -> None:
    """`wallet.balance` {balance: "500.00", transactionId} to the user's sockets. Inside the transaction."""
    publish(channel=WALLET_BALANCE, groups=[user_group(user_id)],
            data={"balance": balance, "transactionId": transaction_id})


def publish_admin_alert(*, kind: str, message: str, **data) -> None:
    """`admin.alert` {kind, message, ...} to the `admin` room. Inside the transaction."""
    publish(channel=ADMIN_ALERT, groups=[GROUP_ADMIN], data={"kind": kind, "message": message, **data})


def payout_payload(payout) -> dict:
    """`{id, amount, status, failureReason, createdAt, updatedAt}` of a payout."""
    return {"id": payout.pk, "amount": payout.amount, "status": payout.status,
            "failureReason": payout.failure_reason, "createdAt": payout.created_at, "updatedAt": payout.updated_at}


def publish_payout_update(payout) -> None:
    """`payouts.update` with the payout to its owner's sockets. Inside the transaction."""
    publish(channel=PAYOUTS_UPDATE, groups=[user_group(payout.wallet_id)], data=payout_payload(payout))
