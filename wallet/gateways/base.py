"""The payment gateway interface both adapters implement (wallet.gateways.fake, .razorpay).

Amounts cross this interface as INR Decimals with 2 places; adapters convert to paise.
Errors: `GatewayTimeout` / `GatewayUnavailable` are transient (retry with the same idempotency
key), `GatewayRejected` is permanent (the payout failed).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

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


@dataclass(frozen=True)
class GatewayOrder:
    """A Razorpay Order (Checkout is opened with its id): amount in INR, status created/attempted/paid."""

    order_id: str
    amount: Decimal
    currency: str
    status: str
    receipt: str = ""


@dataclass(frozen=True)
class GatewayPayment:
    """A payment as the gateway reports it: status created/authorized/captured/refunded/failed."""

    payment_id: str
    order_id: str
    amount: Decimal
    currency: str
    status: str


@dataclass(frozen=True)
class GatewayValidation:
    """A fund account validation: status pending/completed/failed; when completed,
    `account_status` is "active" or "invalid" and `registered_name` the bank's name on it."""

    validation_id: str
    status: str
    account_status: str = ""
    registered_name: str = ""


@dataclass(frozen=True)
class BankAccount:
    """A beneficiary bank account as the user typed it (never stored: see PayoutAccount)."""

    name: str
    ifsc: str
    account_number: str


class PaymentGateway(Protocol):
    name: str
    key_id: str

    def order_create(self, *, amount: Decimal, receipt: str, notes: dict) -> GatewayOrder:
        """Create an Order of `amount` INR for Checkout; `receipt` is ours (unique), `notes` go with it."""

    def payment_fetch(self, *, payment_id: str) -> GatewayPayment:
        """The payment's current state."""

    def order_payments(self, *, order_id: str) -> list[GatewayPayment]:
        """Every payment attempt of an order (any status)."""

    def payment_signature_verify(self, *, order_id: str, payment_id: str, signature: str) -> bool:
        """Whether `signature` is the Checkout signature: hex HMAC-SHA256 of `order_id|payment_id`
        with the key secret (Razorpay docs, "Verify payment signature")."""

    def contact_create(self, *, name: str, email: str, reference: str) -> str:
        """Create (or find) a RazorpayX Contact; returns its id."""

    def fund_account_create(self, *, contact_id: str, bank: BankAccount | None = None, vpa: str = "") -> str:
        """Create a Fund Account (bank account or VPA) of the contact; returns its id."""

    def fund_account_validate(self, *, fund_account_id: str) -> GatewayValidation:
        """Start a fund account validation (penny drop / VPA check); the answer may be pending."""

    def payout_create(self, *, reference: str, amount: Decimal, fund_account_id: str,
                      idempotency_key: str) -> GatewayPayout:
        """Create a payout of `amount` INR; the same `idempotency_key` returns the same payout."""

    def payout_fetch(self, *, gateway_id: str) -> GatewayPayout:
        """The payout's current state at the gateway."""
