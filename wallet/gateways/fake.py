"""A deterministic fake gateway for development, tests and the demo.

Told what to do by PAYMENT_GATEWAY_FAKE_OUTCOME (read at each call, so tests override it with
the `settings` fixture): "succeed" (payouts are accepted, then processed), "fail" (accepted, then
failed), "reverse" (accepted, processed, then reversed), "reject" (refused at creation) or
"timeout" (every call times out). Stateless: the gateway id is derived from the idempotency key,
so two processes (web and worker) agree, and the same key returns the same payout as Razorpay's
X-Payout-Idempotency does.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from . import GatewayPayout, GatewayRejected, GatewayTimeout

OUTCOMES = ("succeed", "fail", "reverse", "reject", "timeout")
_FINAL_RAW = {"succeed": "processed", "fail": "failed", "reverse": "reversed"}


class FakeGateway:
    name = "fake"

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
