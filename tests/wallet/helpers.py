"""Helpers of the wallet tests: funding wallets through the ledger, payout accounts, the refund,
top-up and webhook API calls, and snapshots of every row a money movement writes.

Money is INR `Decimal` given as strings ("100.00"), never floats.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from audit.models import AuditLog
from notifications.models import Notification
from outbox.models import EventOutbox
from wallet.gateways.fake import FakeGateway
from wallet.models import (IdempotencyKey, Payout, PayoutAccount, Posting, TopupOrder, Transaction, Wallet,
                           WebhookEvent)

REFUND_URL = "/api/wallet/refund"
PAYOUTS_URL = "/api/wallet/payouts"
TOPUPS_URL = "/api/wallet/topups"
ACCOUNTS_URL = "/api/wallet/payout-accounts"
WEBHOOK_URL = "/api/webhooks/razorpay"
WEBHOOK_SECRET = "test-webhook-secret"
BANK = {"name": "Asha Verma", "ifsc": "HDFC0000053", "accountNumber": "765432123456789"}


def fund(user, amount: str) -> Decimal:
    """Top the user's wallet up by `amount` through the ledger (a captured payment); new balance."""
    from wallet.services import topup_credit

    topup_credit(user_id=user.pk, amount=Decimal(amount), payment_id=f"pay_test_{uuid.uuid4().hex[:12]}")
    return balance_of(user)


def payable(user, vpa: str | None = None):
    """Give the user an active payout account past its cool-off (a UPI address through the fake
    gateway); payouts need one (docs/wallet.md "Payout accounts"). Returns the PayoutAccount."""
    from wallet.services import payout_account_add

    account = payout_account_add(user=user, vpa=vpa or f"{user.username}@okaxis")
    PayoutAccount.objects.filter(pk=account.pk).update(cooloff_until=timezone.now() - timedelta(seconds=1))
    account.refresh_from_db()
    return account


def charge(user, amount: str, ref_id: str):
    """Charge `amount` to the user's wallet through the ledger (`charge_create`); the transaction."""
    from wallet.services import charge_create

    return charge_create(user_id=user.pk, amount=Decimal(amount), ref_id=ref_id, reason="test charge")


def balance_of(user) -> Decimal:
    """The user's wallet balance (INR); 0.00 when the user has no wallet row."""
    return Wallet.objects.filter(pk=user.pk).values_list("balance", flat=True).first() or Decimal("0.00")


def counts() -> dict:
    """Row counts of everything a money movement writes, and every wallet's balance."""
    return {"transactions": Transaction.objects.count(), "postings": Posting.objects.count(),
            "audit": AuditLog.objects.count(), "outbox": EventOutbox.objects.count(),
            "keys": IdempotencyKey.objects.count(), "payouts": Payout.objects.count(),
            "balances": sorted(Wallet.objects.values_list("pk", "balance"))}


def snapshot() -> dict:
    """`counts()` and the rows a top-up, payout account or webhook writes (orders and accounts
    with their status, webhook events, notifications)."""
    return {**counts(), "topups": sorted(TopupOrder.objects.values_list("pk", "status", "payment_id")),
            "accounts": sorted(PayoutAccount.objects.values_list("pk", "status")),
            "webhooks": WebhookEvent.objects.count(), "notifications": Notification.objects.count()}


def refund_body(user, amount="100.00", ref_id="goodwill-1", reason="Customer complaint") -> dict:
    """The JSON body of POST /api/wallet/refund for `user`."""
    return {"userId": user.pk, "amount": amount, "reason": reason, "refId": ref_id}


def post_refund(client, body: dict, key: str | None = "key-1"):
    """POST /api/wallet/refund with `body` under Idempotency-Key `key` (none when `key` is None)."""
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(REFUND_URL, body, format="json", **headers)


def create_topup(client, amount="500.00", key="topup-1"):
    """POST /api/wallet/topups {amount} under Idempotency-Key `key`."""
    return client.post(TOPUPS_URL, {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def pay(order_id: str, amount: str | Decimal | None = None, status: str = "captured") -> tuple[str, str]:
    """(paymentId, signature) as Checkout would give them, for a payment of `amount` (default the order's)."""
    if amount is None:
        amount = TopupOrder.objects.get(gateway_order_id=order_id).amount
    return FakeGateway.payment_make(order_id=order_id, amount=Decimal(str(amount)), status=status)


def verify(client, order_id: str, payment_id: str, signature: str):
    """POST /api/wallet/topups/{orderId}/verify with Checkout's answer."""
    return client.post(f"{TOPUPS_URL}/{order_id}/verify", {"paymentId": payment_id, "signature": signature},
                       format="json")


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """Razorpay's webhook signature of `body`: HMAC-SHA256 hex with `secret`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(event: str, entity: dict) -> bytes:
    """A Razorpay webhook body of `event` (e.g. "payment.captured") carrying `entity`."""
    kind = event.split(".", 1)[0]
    return json.dumps({"entity": "event", "account_id": "acc_test", "event": event, "contains": [kind],
                       "payload": {kind: {"entity": entity}}, "created_at": 1767225600}).encode()


def post_webhook(client, body: bytes, *, event_id: str, signature: str | None | bool = None):
    """POST the webhook `body`: signed with WEBHOOK_SECRET by default, with `signature` as given,
    or with no signature header when `signature` is False."""
    headers = {"HTTP_X_RAZORPAY_EVENT_ID": event_id}
    if signature is not False:
        headers["HTTP_X_RAZORPAY_SIGNATURE"] = sign(body) if signature is None else signature
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)
