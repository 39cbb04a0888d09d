"""A deterministic fake gateway for development, tests and the demo.

Told what to do by PAYMENT_GATEWAY_FAKE_OUTCOME (read at each call, so tests override it with
the `settings` fixture): "succeed" (payouts are accepted, then processed), "fail" (accepted, then
failed), "reverse" (accepted, processed, then reversed), "reject" (refused at creation) or
"timeout" (every call times out). Stateless: the gateway id is derived from the idempotency key,
so two processes (web and worker) agree, and the same key returns the same payout as Razorpay's
X-Payout-Idempotency does.

Top-ups: orders get ids derived from their receipt; `payment_make` (used by `manage.py
topup_fake_pay`, docs/wallet.md) plays the customer paying in Checkout and returns a payment id
and the signature Checkout would hand the app, signed with PAYMENT_GATEWAY_FAKE_KEY_SECRET. The
payment id carries the order, amount and status, so `payment_fetch` needs no state either.
Contacts, fund accounts and validations are derived from their inputs the same way.
"""
from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

from django.conf import settings
from razorpay import Utility
from razorpay.errors import SignatureVerificationError

from ..fields import from_paise, to_paise
from .base import (
    BankAccount, GatewayOrder, GatewayPayment, GatewayPayout, GatewayRejected, GatewayTimeout, GatewayValidation,
)

KEY_ID = "rzp_test_fake"


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:14]

OUTCOMES = ("succeed", "fail", "reverse", "reject", "timeout")
_FINAL_RAW = {"succeed": "processed", "fail": "failed", "reverse": "reversed"}


class FakeGateway:
    name = "fake"
    key_id = KEY_ID

    def __init__(self, outcome: str | None = None):
        self._outcome = outcome

    @property
    def outcome(self) -> str:
        outcome = self._outcome or settings.PAYMENT_GATEWAY_FAKE_OUTCOME
        if outcome not in OUTCOMES:
            raise ValueError(f"PAYMENT_GATEWAY_FAKE_OUTCOME must be one of {OUTCOMES}, not {outcome!r}")
        return outcome

    def payout_create(self, *, reference: str, amount: Decimal, fund_account_id: str,
                      idempotency_key: str) -> GatewayPayout:
        outcome = self.outcome
        if outcome == "timeout":
            raise GatewayTimeout("fake gateway: timed out")
        if outcome == "reject":
            raise GatewayRejected("fake gateway: payout rejected")
        return GatewayPayout(gateway_id=f"pout_fake_{idempotency_key}", raw_status="processing")

    def payout_fetch(self, *, gateway_id: str) -> GatewayPayout:
        outcome = self.outcome
        if outcome == "timeout":
            raise GatewayTimeout("fake gateway: timed out")
        if outcome == "reject":
            return GatewayPayout(gateway_id=gateway_id, raw_status="rejected", reason="fake gateway: rejected")
        reason = "" if outcome == "succeed" else f"fake gateway: {_FINAL_RAW[outcome]}"
        return GatewayPayout(gateway_id=gateway_id, raw_status=_FINAL_RAW[outcome], reason=reason)

    # --- top-ups ---------------------------------------------------------------------------
    def order_create(self, *, amount: Decimal, receipt: str, notes: dict) -> GatewayOrder:
        if self.outcome == "timeout":
            raise GatewayTimeout("fake gateway: timed out")
        return GatewayOrder(order_id=f"order_fake_{_digest(receipt)}", amount=amount, currency="INR", status="created",
                            receipt=receipt)

    @staticmethod
    def payment_make(*, order_id: str, amount: Decimal, status: str = "captured") -> tuple[str, str]:
        """Pay `order_id` with `amount` INR as Checkout would: returns (payment id, signature).
        `status` is what `payment_fetch` will report: captured, authorized or failed."""
        if not order_id.startswith("order_fake_") or status not in ("captured", "authorized", "failed"):
            raise ValueError(f"not a fake order id or payment status: {order_id!r} {status!r}")
        payment_id = f"pay_fake_{order_id.removeprefix('order_fake_')}_{to_paise(amount)}_{status}"
        signature = hmac.new(settings.PAYMENT_GATEWAY_FAKE_KEY_SECRET.encode(), f"{order_id}|{payment_id}".encode(),
                             hashlib.sha256).hexdigest()
        return payment_id, signature

    def payment_fetch(self, *, payment_id: str) -> GatewayPayment:
        if self.outcome == "timeout":
            raise GatewayTimeout("fake gateway: timed out")
        try:
            suffix, paise, status = payment_id.removeprefix("pay_fake_").rsplit("_", 2)
            amount = from_paise(int(paise))
        except ValueError:
            raise GatewayRejected(f"fake gateway: the id provided does not exist: {payment_id}") from None
        return GatewayPayment(payment_id=payment_id, order_id=f"order_fake_{suffix}", amount=amount, currency="INR",
                              status=status)

    def order_payments(self, *, order_id: str) -> list[GatewayPayment]:
        """The fake keeps no state: it knows no payment of an order (verify and the webhook credit)."""
        if self.outcome == "timeout":
            raise GatewayTimeout("fake gateway: timed out")
        return []

    def payment_signature_verify(self, *, order_id: str, payment_id: str, signature: str) -> bool:
        params = {"razorpay_order_id": order_id, "razorpay_payment_id": payment_id, "razorpay_signature": signature}
        try:
            return bool(Utility(_SecretHolder()).verify_payment_signature(params))
        except SignatureVerificationError:
            return False

    # --- payout accounts -------------------------------------------------------------------
    def contact_create(self, *, name: str, email: str, reference: str) -> str:
        if self.outcome == "timeout":
            raise GatewayTimeout("fake gateway: timed out")
        return f"cont_fake_{_digest(reference)}"

    def fund_account_create(self, *, contact_id: str, bank: BankAccount | None = None, vpa: str = "") -> str:
        if self.outcome == "timeout":
            raise GatewayTimeout("fake gateway: timed out")
        details = f"{bank.ifsc}|{bank.account_number}" if bank else vpa
        return f"fa_fake_{_digest(contact_id, details)}"

    def fund_account_validate(self, *, fund_account_id: str) -> GatewayValidation:
        outcome = self.outcome
        if outcome == "timeout":
            raise GatewayTimeout("fake gateway: timed out")
        account_status = "invalid" if outcome == "reject" else "active"
        return GatewayValidation(validation_id=f"fav_fake_{_digest(fund_account_id)}", status="completed",
                                 account_status=account_status, registered_name="FAKE ACCOUNT HOLDER")


class _SecretHolder:
    """What the SDK's Utility reads the key secret from (`client.auth[1]`)."""

    @property
    def auth(self) -> tuple[str, str]:
        return KEY_ID, settings.PAYMENT_GATEWAY_FAKE_KEY_SECRET
