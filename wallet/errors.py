"""Error codes of the wallet's top-ups and payout accounts (docs/wallet.md lists each with its status).

Services raise the `dgt.errors` classes with one of these codes; the API renders
`{"error": {"code", "message", "fields"}}` with the class's status.
"""
from __future__ import annotations

from enum import StrEnum

from dgt.errors import ServiceError


class WalletError(StrEnum):
    # top-ups
    TOPUP_AMOUNT_OUT_OF_RANGE = "topup_amount_out_of_range"  # 422: below TOPUP_MIN_AMOUNT or above TOPUP_MAX_AMOUNT
    TOPUP_DAILY_LIMIT_EXCEEDED = "topup_daily_limit_exceeded"  # 422: over TOPUP_DAILY_MAX today
    INVALID_SIGNATURE = "invalid_signature"  # 400: the Checkout signature does not match
    PAYMENT_MISMATCH = "payment_mismatch"  # 422: the payment is of another order, amount or currency
    PAYMENT_FAILED = "payment_failed"  # 422: the payment failed; the order can be paid again
    PAYMENT_NOT_CAPTURED = "payment_not_captured"  # 409: authorized, not captured yet: retry later
    TOPUP_ALREADY_PAID = "topup_already_paid"  # 409: the order was paid by another payment
    GATEWAY_UNAVAILABLE = "gateway_unavailable"  # 503: the gateway did not answer; nothing changed
    # payout accounts and payouts
    PAYOUT_ACCOUNT_REQUIRED = "payout_account_required"  # 409: no active payout account
    PAYOUT_ACCOUNT_COOLING_OFF = "payout_account_cooling_off"  # 409: the account is new; fields.availableAt
    PAYOUT_ACCOUNT_UNVERIFIED = "payout_account_unverified"  # 409: validation pending or failed
    PAYOUT_ACCOUNT_INVALID = "payout_account_invalid"  # 422: the bank says the account is invalid
    PAYOUT_ACCOUNT_REJECTED = "payout_account_rejected"  # 422: the gateway refused the details


class GatewayDown(ServiceError):
    """The payment gateway timed out or answered 5xx: nothing was changed; retry later."""

    status = 503
    code = WalletError.GATEWAY_UNAVAILABLE
