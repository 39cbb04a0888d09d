"""Helpers for the top-up and payout-account tests: API calls and a snapshot of everything money touches."""
from __future__ import annotations

from decimal import Decimal

from audit.models import AuditLog
from notifications.models import Notification
from wallet.gateways.fake import FakeGateway
from wallet.models import PayoutAccount, TopupOrder, WebhookEvent

from ..wallet_helpers import counts

TOPUPS_URL = "/api/wallet/topups"
ACCOUNTS_URL = "/api/wallet/payout-accounts"
BANK = {"name": "Asha Verma", "ifsc": "HDFC0000053", "accountNumber": "765432123456789"}


def snapshot() -> dict:
    """Row counts and balances of everything a top-up, payout account or payout writes."""
    return {**counts(), "topups": sorted(TopupOrder.objects.values_list("pk", "status", "payment_id")),
            "accounts": sorted(PayoutAccount.objects.values_list("pk", "status")),
            "webhooks": WebhookEvent.objects.count(), "notifications": Notification.objects.count(),
            "audit_rows": AuditLog.objects.count()}


def create_topup(client, amount="500.00", key="topup-1"):
    return client.post(TOPUPS_URL, {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def pay(order_id: str, amount: str | Decimal | None = None, status: str = "captured") -> tuple[str, str]:
    """(paymentId, signature) as Checkout would give them, for a payment of `amount` (default the order's)."""
    if amount is None:
        amount = TopupOrder.objects.get(gateway_order_id=order_id).amount
    return FakeGateway.payment_make(order_id=order_id, amount=Decimal(str(amount)), status=status)


def verify(client, order_id: str, payment_id: str, signature: str):
    return client.post(f"{TOPUPS_URL}/{order_id}/verify", {"paymentId": payment_id, "signature": signature},
                       format="json")
