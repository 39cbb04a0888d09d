"""Razorpay (RazorpayX payouts) through the official `razorpay` SDK.

The SDK has no payouts resource, so payouts go through its generic `client.post/get`, which
keeps its auth, user agent and error mapping. API: POST /v1/payouts with the
`X-Payout-Idempotency` header (same key -> same payout), GET /v1/payouts/{id}. Amounts in paise.
"""
from __future__ import annotations

from decimal import Decimal

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError as RzpGatewayError, ServerError

from . import GatewayPayout, GatewayRejected, GatewayTimeout, GatewayUnavailable

TIMEOUT_SECONDS = 15


def to_paise(amount: Decimal) -> int:
    """INR Decimal (2 places) -> integer paise, exactly."""
    return int((amount * 100).to_integral_value())


def from_paise(paise: int) -> Decimal:
    """Integer paise -> INR Decimal with 2 places, exactly."""
    return (Decimal(int(paise)) / 100).quantize(Decimal("0.01"))


class RazorpayGateway:
    name = "razorpay"

    def __init__(self, *, key_id: str, key_secret: str, account_number: str, session=None):
        self.client = razorpay.Client(auth=(key_id, key_secret), session=session)
        self.account_number = account_number

    def _call(self, method: str, path: str, data, headers: dict | None = None) -> dict:
        try:
            return getattr(self.client, method)(path, data, headers=headers or {}, timeout=TIMEOUT_SECONDS)
        except requests.exceptions.Timeout as exc:
            raise GatewayTimeout(str(exc)) from exc
        except requests.exceptions.ConnectionError as exc:
            raise GatewayUnavailable(str(exc)) from exc
        except BadRequestError as exc:
            raise GatewayRejected(str(exc)) from exc
        except (ServerError, RzpGatewayError) as exc:
            raise GatewayUnavailable(str(exc)) from exc

    @staticmethod
    def _payout(body: dict) -> GatewayPayout:
        details = body.get("status_details") or {}
        reason = details.get("description") or body.get("failure_reason") or ""
        return GatewayPayout(gateway_id=body["id"], raw_status=body.get("status", ""), reason=reason or "")

    def payout_create(self, *, reference: str, amount: Decimal, fund_account_id: str,
                      idempotency_key: str) -> GatewayPayout:
        if not fund_account_id:
            raise GatewayRejected("the wallet has no payout fund account")
        body = self._call("post", "/v1/payouts", {
            "account_number": self.account_number,
            "fund_account_id": fund_account_id,
            "amount": to_paise(amount),
            "currency": "INR",
            "mode": "IMPS",
            "purpose": "payout",
            "queue_if_low_balance": True,
            "reference_id": reference,
            "narration": "dgt wallet payout",
        }, headers={"X-Payout-Idempotency": idempotency_key})
        return self._payout(body)

    def payout_fetch(self, *, gateway_id: str) -> GatewayPayout:
        return self._payout(self._call("get", f"/v1/payouts/{gateway_id}", {}))
