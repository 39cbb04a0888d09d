"""Payment gateways behind one small interface: a deterministic fake (default) and Razorpay.

`get_gateway()` returns Razorpay when RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET are set, else the
fake. Amounts cross this interface as INR Decimals with 2 places; adapters convert to paise.
Errors: `GatewayTimeout` / `GatewayUnavailable` are transient (retry with the same idempotency
key), `GatewayRejected` is permanent (the payout failed).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings

from wallet.models import PayoutStatus


class GatewayError(Exception):
    """Base of gateway failures."""


class GatewayTimeout(GatewayError):
    """No answer in time: the outcome is unknown; retry with the same idempotency key."""


class GatewayUnavailable(GatewayError):
    """The gateway answered with a server error: transient."""


class GatewayRejected(GatewayError):
    """The gateway refused the request (bad request, insufficient balance ...): permanent."""


# Razorpay payout states (RazorpayX docs, "Payout states") -> ours. queued/pending/processing
# are all "the gateway has it"; rejected/cancelled never paid out, like failed.
RAZORPAY_PAYOUT_STATUS = {
    "queued": PayoutStatus.PROCESSING,
    "pending": PayoutStatus.PROCESSING,
    "processing": PayoutStatus.PROCESSING,
    "scheduled": PayoutStatus.PROCESSING,
    "processed": PayoutStatus.COMPLETED,
    "reversed": PayoutStatus.REVERSED,
    "failed": PayoutStatus.FAILED,
    "rejected": PayoutStatus.FAILED,
    "cancelled": PayoutStatus.FAILED,
}


def payout_status_from_gateway(raw: str) -> PayoutStatus:
    """Our PayoutStatus for a Razorpay payout status; unknown states count as processing."""
    return RAZORPAY_PAYOUT_STATUS.get((raw or "").lower(), PayoutStatus.PROCESSING)


@dataclass(frozen=True)
class GatewayPayout:
    """A payout as the gateway reports it: its id, raw status, our status, failure reason."""

    gateway_id: str
    raw_status: str
    reason: str = ""

    @property
    def status(self) -> PayoutStatus:
        return payout_status_from_gateway(self.raw_status)


class PaymentGateway(Protocol):
    name: str

    def payout_create(self, *, reference: str, amount: Decimal, fund_account_id: str,
                      idempotency_key: str) -> GatewayPayout:
        """Create a payout of `amount` INR; the same `idempotency_key` returns the same payout."""

    def payout_fetch(self, *, gateway_id: str) -> GatewayPayout:
        """The payout's current state at the gateway."""


def get_gateway() -> PaymentGateway:
    """Razorpay when its key id and secret are configured, else the deterministic fake."""
    if settings.RAZORPAY_KEY_ID and settings.RAZORPAY_KEY_SECRET:
        from .razorpay import RazorpayGateway

        return RazorpayGateway(key_id=settings.RAZORPAY_KEY_ID, key_secret=settings.RAZORPAY_KEY_SECRET,
                               account_number=settings.RAZORPAY_ACCOUNT_NUMBER)
    from .fake import FakeGateway

    return FakeGateway()
