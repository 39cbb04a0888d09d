"""Razorpay (Orders, Payments, RazorpayX Contacts, Fund Accounts, validations, payouts) through
the official `razorpay` SDK.

Orders, payments and fund accounts use the SDK's resources (`client.order.create`,
`client.order.payments`, `client.payment.fetch`, `client.fund_account.create`) and its `Utility.verify_payment_signature`.
The SDK has no other RazorpayX resources (contacts, payouts, fund account validations), so those go through its generic `client.post/get`, which keeps its
auth, user agent and error mapping. API: POST /v1/orders, GET /v1/payments/{id}, POST
/v1/contacts, POST /v1/fund_accounts, POST /v1/fund_accounts/validations, POST /v1/payouts with
the `X-Payout-Idempotency` header (same key -> same payout), GET /v1/payouts/{id}. Amounts in paise.
"""
from __future__ import annotations

from decimal import Decimal

import razorpay
import requests
from razorpay.errors import (
    BadRequestError, GatewayError as RzpGatewayError, ServerError, SignatureVerificationError,
)

from ..fields import from_paise, to_paise  # noqa: F401 - re-exported: the adapter's unit conversions
from .base import (
    BankAccount, GatewayOrder, GatewayPayment, GatewayPayout, GatewayRejected, GatewayTimeout, GatewayUnavailable,
    GatewayValidation,
)

TIMEOUT_SECONDS = 15
# Razorpay validation statuses -> ours (pending until the bank answers).
_VALIDATION_STATUS = {"created": "pending", "completed": "completed", "failed": "failed"}


class RazorpayGateway:
    name = "razorpay"

    def __init__(self, *, key_id: str, key_secret: str, account_number: str, session=None):
        self.client = razorpay.Client(auth=(key_id, key_secret), session=session)
        self.key_id = key_id
        self.account_number = account_number

    def _call(self, method: str, path: str, data, headers: dict | None = None) -> dict:
        return self._sdk(lambda: getattr(self.client, method)(path, data, headers=headers or {},
                                                              timeout=TIMEOUT_SECONDS))

    @staticmethod
    def _sdk(call):
        """Run an SDK call, mapping its errors to ours (timeouts and 5xx transient, 4xx permanent)."""
        try:
            return call()
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

    # --- top-ups (Orders, Payments, Checkout signature) ------------------------------------
    def order_create(self, *, amount: Decimal, receipt: str, notes: dict) -> GatewayOrder:
        body = self._sdk(lambda: self.client.order.create(
            {"amount": to_paise(amount), "currency": "INR", "receipt": receipt, "notes": notes,
             "payment_capture": 1}, timeout=TIMEOUT_SECONDS))
        return GatewayOrder(order_id=body["id"], amount=from_paise(body["amount"]), currency=body.get("currency", ""),
                            status=body.get("status", ""), receipt=receipt)

    def payment_fetch(self, *, payment_id: str) -> GatewayPayment:
        return self._payment(self._sdk(lambda: self.client.payment.fetch(payment_id, timeout=TIMEOUT_SECONDS)))

    @staticmethod
    def _payment(body: dict) -> GatewayPayment:
        return GatewayPayment(payment_id=body["id"], order_id=body.get("order_id") or "",
                              amount=from_paise(body["amount"]), currency=body.get("currency", ""),
                              status=body.get("status", ""))

    def order_payments(self, *, order_id: str) -> list[GatewayPayment]:
        body = self._sdk(lambda: self.client.order.payments(order_id, timeout=TIMEOUT_SECONDS))
        return [self._payment(item) for item in body.get("items") or []]

    def payment_signature_verify(self, *, order_id: str, payment_id: str, signature: str) -> bool:
        params = {"razorpay_order_id": order_id, "razorpay_payment_id": payment_id, "razorpay_signature": signature}
        try:
            return bool(self.client.utility.verify_payment_signature(params))
        except SignatureVerificationError:
            return False

    # --- payout accounts (RazorpayX Contacts, Fund Accounts, validations) -----------------
    def contact_create(self, *, name: str, email: str, reference: str) -> str:
        body = {"name": name, "type": "customer", "reference_id": reference}
        if email:
            body["email"] = email
        return self._call("post", "/v1/contacts", body)["id"]

    def fund_account_create(self, *, contact_id: str, bank: BankAccount | None = None, vpa: str = "") -> str:
        if bank is not None:
            body = {"contact_id": contact_id, "account_type": "bank_account",
                    "bank_account": {"name": bank.name, "ifsc": bank.ifsc, "account_number": bank.account_number}}
        else:
            body = {"contact_id": contact_id, "account_type": "vpa", "vpa": {"address": vpa}}
        return self._sdk(lambda: self.client.fund_account.create(body, timeout=TIMEOUT_SECONDS))["id"]

    def fund_account_validate(self, *, fund_account_id: str) -> GatewayValidation:
        body = self._call("post", "/v1/fund_accounts/validations", {
            "account_number": self.account_number, "fund_account": {"id": fund_account_id},
            "amount": 100, "currency": "INR", "notes": {"purpose": "dgt payout account check"}})
        return self.validation_from(body)

    @staticmethod
    def validation_from(body: dict) -> GatewayValidation:
        """A `fund_account.validation` entity (API answer or webhook payload) as ours."""
        results = body.get("results") or {}
        return GatewayValidation(validation_id=body["id"],
                                 status=_VALIDATION_STATUS.get(body.get("status", ""), "pending"),
                                 account_status=results.get("account_status") or "",
                                 registered_name=results.get("registered_name") or "")
