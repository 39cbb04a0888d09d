"""Payment gateways behind one small interface (`wallet.gateways.base`, whose names are imported
from here): a deterministic fake (default) and Razorpay.

`get_gateway()` returns Razorpay when RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET are set, else the
fake. Amounts cross this interface as INR Decimals with 2 places; adapters convert to paise.
Errors: `GatewayTimeout` / `GatewayUnavailable` are transient (retry with the same idempotency
key), `GatewayRejected` is permanent (the payout failed).
"""
from __future__ import annotations

from django.conf import settings

from .base import (
    RAZORPAY_PAYOUT_STATUS, BankAccount, GatewayError, GatewayOrder, GatewayPayment, GatewayPayout, GatewayRejected,
    GatewayTimeout, GatewayUnavailable, GatewayValidation, PaymentGateway, payout_status_from_gateway,
)
from .fake import FakeGateway
from .razorpay import RazorpayGateway

__all__ = [
    "RAZORPAY_PAYOUT_STATUS", "BankAccount", "GatewayError", "GatewayOrder", "GatewayPayment", "GatewayPayout",
    "GatewayRejected", "GatewayTimeout", "GatewayUnavailable", "GatewayValidation", "PaymentGateway",
    "payout_status_from_gateway", "get_gateway",
]


def get_gateway() -> PaymentGateway:
    """Razorpay when its key id and secret are configured, else the deterministic fake."""
    if settings.RAZORPAY_KEY_ID and settings.RAZORPAY_KEY_SECRET:
        return RazorpayGateway(key_id=settings.RAZORPAY_KEY_ID, key_secret=settings.RAZORPAY_KEY_SECRET,
                               account_number=settings.RAZORPAY_ACCOUNT_NUMBER)
    return FakeGateway()
