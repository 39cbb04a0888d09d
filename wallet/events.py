"""Events the wallet app emits (docs/realtime.md): `wallet.balance`, `payouts.update`, `admin.alert`.

The `*_event` functions build `(channel, groups, data)` tuples so that a service publishes all the
events of one change with a single `publish_many` (one INSERT, one send after commit).
"""
from __future__ import annotations

from decimal import Decimal

from outbox.services import GROUP_ADMIN, publish_many, user_group

WALLET_BALANCE = "wallet.balance"
PAYOUTS_UPDATE = "payouts.update"
ADMIN_ALERT = "admin.alert"

Event = tuple[str, list[str], dict]


def balance_event(*, user_id: int, balance: Decimal, transaction_id: int) -> Event:
    """`wallet.balance` {balance: "500.00", transactionId} to the user's sockets."""
    return WALLET_BALANCE, [user_group(user_id)], {"balance": balance, "transactionId": transaction_id}


def admin_alert_event(*, kind: str, message: str, **data) -> Event:
    """`admin.alert` {kind, message, ...} to the `admin` room."""
    return ADMIN_ALERT, [GROUP_ADMIN], {"kind": kind, "message": message, **data}


def payout_payload(payout) -> dict:
    """`{id, amount, status, failureReason, createdAt, updatedAt}` of a payout."""
    return {"id": payout.pk, "amount": payout.amount, "status": payout.status,
            "failureReason": payout.failure_reason, "createdAt": payout.created_at, "updatedAt": payout.updated_at}


def payout_event(payout) -> Event:
    """`payouts.update` with the payout to its owner's sockets."""
    return PAYOUTS_UPDATE, [user_group(payout.wallet_id)], payout_payload(payout)


def publish(*events: Event) -> None:
    """Publish the events of one change through the outbox. Inside the change's transaction."""
    publish_many(events=events)


def publish_balance(*, user_id: int, balance: Decimal, transaction_id: int) -> None:
    publish(balance_event(user_id=user_id, balance=balance, transaction_id=transaction_id))


def publish_admin_alert(*, kind: str, message: str, **data) -> None:
    publish(admin_alert_event(kind=kind, message=message, **data))
