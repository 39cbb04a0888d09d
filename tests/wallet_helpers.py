"""Helpers for the wallet tests: funding wallets, counting ledger rows, calling the refund API."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from audit.models import AuditLog
from outbox.models import EventOutbox
from wallet.models import IdempotencyKey, Payout, PayoutAccount, Posting, Transaction, Wallet

REFUND_URL = "/api/wallet/refund"
PAYOUTS_URL = "/api/wallet/payouts"
WEBHOOK_URL = "/api/webhooks/razorpay"
WEBHOOK_SECRET = "test-webhook-secret"


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
    from wallet.services import charge_create

    return charge_create(user_id=user.pk, amount=Decimal(amount), ref_id=ref_id, reason="test charge")


def balance_of(user) -> Decimal:
    return Wallet.objects.filter(pk=user.pk).values_list("balance", flat=True).first() or Decimal("0.00")


def counts() -> dict:
    """Row counts of everything a money movement writes."""
    return {"transactions": Transaction.objects.count(), "postings": Posting.objects.count(),
            "audit": AuditLog.objects.count(), "outbox": EventOutbox.objects.count(),
            "keys": IdempotencyKey.objects.count(), "payouts": Payout.objects.count(),
            "balances": sorted(Wallet.objects.values_list("pk", "balance"))}


def refund_body(user, amount="100.00", ref_id="goodwill-1", reason="Customer complaint") -> dict:
    return {"userId": user.pk, "amount": amount, "reason": reason, "refId": ref_id}


def post_refund(client, body: dict, key: str | None = "key-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(REFUND_URL, body, format="json", **headers)


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(event: str, entity: dict) -> bytes:
    kind = event.split(".", 1)[0]
    return json.dumps({"entity": "event", "account_id": "acc_test", "event": event, "contains": [kind],
                       "payload": {kind: {"entity": entity}}, "created_at": 1767225600}).encode()


def post_webhook(client, body: bytes, *, event_id: str, signature: str | None = None):
    headers = {"HTTP_X_RAZORPAY_EVENT_ID": event_id}
    if signature is not False:
        headers["HTTP_X_RAZORPAY_SIGNATURE"] = sign(body) if signature is None else signature
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)
