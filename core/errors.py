"""Domain errors raised by services; the API renders them in the error shape of docs/architecture.md.

Services never import DRF: they raise these, and `core.api.errors.exception_handler` turns them
into `{"error": {"code", "message", "fields"}}` with the status below.
"""
from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every `error.code` a service answers with (the wire values; clients match on them).

    The API's error shape and each code's meaning: docs/architecture.md (Errors).
    """

    BAD_REQUEST = "bad_request"
    # NUL, unpaired surrogates or non-finite numbers anywhere in a request (core.api.text)
    INVALID_TEXT = "invalid_text"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    CONFLICT = "conflict"
    UNPROCESSABLE = "unprocessable"
    # accounts
    CANNOT_ACT_ON_SELF = "cannot_act_on_self"
    TARGET_IS_ADMIN = "target_is_admin"
    NOT_BLOCKED = "not_blocked"
    ALREADY_BLOCKED = "already_blocked"
    NO_CHANGE = "no_change"
    # listings, outbox: a state machine refused the move
    OWN_LISTING = "own_listing"
    INVALID_TRANSITION = "invalid_transition"
    LISTING_CLAIMED = "listing_claimed"  # another moderator's live claim (docs/moderation.md)
    # wallet
    REFUND_EXCEEDS_CHARGE = "refund_exceeds_charge"
    GOODWILL_LIMIT_EXCEEDED = "goodwill_limit_exceeded"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_EVENT = "invalid_event"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_FLIGHT = "idempotency_key_in_flight"
    INSUFFICIENT_FUNDS = "insufficient_funds"  # 409: a debit larger than the balance
    BALANCE_LIMIT_EXCEEDED = "balance_limit_exceeded"  # 422: a credit past the balance limit
    # wallet: top-ups (docs/wallet.md "Top-ups")
    TOPUP_AMOUNT_OUT_OF_RANGE = "topup_amount_out_of_range"  # 422: below TOPUP_MIN_AMOUNT or above TOPUP_MAX_AMOUNT
    TOPUP_DAILY_LIMIT_EXCEEDED = "topup_daily_limit_exceeded"  # 422: over TOPUP_DAILY_MAX today
    PAYMENT_MISMATCH = "payment_mismatch"  # 422: the payment is of another order, amount or currency
    PAYMENT_FAILED = "payment_failed"  # 422: the payment failed; the order can be paid again
    PAYMENT_NOT_CAPTURED = "payment_not_captured"  # 409: authorized, not captured yet: retry later
    TOPUP_ALREADY_PAID = "topup_already_paid"  # 409: the order was paid by another payment
    GATEWAY_UNAVAILABLE = "gateway_unavailable"  # 503: the gateway did not answer; nothing changed
    # wallet: payout accounts and payouts (docs/wallet.md "Payout accounts")
    PAYOUT_ACCOUNT_REQUIRED = "payout_account_required"  # 409: no active payout account
    PAYOUT_ACCOUNT_COOLING_OFF = "payout_account_cooling_off"  # 409: the account is new; fields.availableAt
    PAYOUT_ACCOUNT_UNVERIFIED = "payout_account_unverified"  # 409: validation pending or failed
    PAYOUT_ACCOUNT_NOT_ACTIVE = "payout_account_not_active"  # 409: remove/disable of an ended account
    PAYOUT_ACCOUNT_INVALID = "payout_account_invalid"  # 422: the bank says the account is invalid
    PAYOUT_ACCOUNT_REJECTED = "payout_account_rejected"  # 422: the gateway refused the details
    # analytics
    ALREADY_REPLAYED = "already_replayed"
    # a dependency (PostgreSQL, or Redis where it is required) is unreachable: 503 + Retry-After
    SERVICE_UNAVAILABLE = "service_unavailable"


class ServiceError(Exception):
    """Base of every error a service raises on purpose: `status` is the HTTP status to answer,
    `code` the `error.code` (an ErrorCode), `fields` per-field messages (`{}` when none).

    A subclass declares its status and code once, in its class line:
    `class NotFound(ServiceError, status=404, code=ErrorCode.NOT_FOUND)`; a raise may give a more
    precise `code=` (docs/architecture.md, Errors).
    """

    status = 400
    code = ErrorCode.BAD_REQUEST

    def __init_subclass__(cls, *, status: int | None = None, code: ErrorCode | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str, *, code: ErrorCode | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class ValidationFailed(ServiceError, status=400, code=ErrorCode.INVALID):
    """The input is invalid: 400 `invalid`, `fields` names the bad ones."""

    @classmethod
    def required(cls, field: str, message: str | None = None) -> ValidationFailed:
        """A missing field: `message` (default "<field> is required.") and fields {field: "This field is required."}."""
        return cls(message or f"{field} is required.", fields={field: "This field is required."})


class NotFound(ServiceError, status=404, code=ErrorCode.NOT_FOUND):
    """No such row, or one the caller may not know of: 404 `not_found`."""


class Forbidden(ServiceError, status=403, code=ErrorCode.PERMISSION_DENIED):
    """The caller may not do this: 403 `permission_denied`."""


class Conflict(ServiceError, status=409, code=ErrorCode.CONFLICT):
    """The request is valid but contradicts the current state (e.g. approving a rejected listing): 409."""


class Unprocessable(ServiceError, status=422, code=ErrorCode.UNPROCESSABLE):
    """The request is well formed but breaks a rule (a limit, a mismatch): 422."""


class ServiceUnavailable(ServiceError, status=503, code=ErrorCode.SERVICE_UNAVAILABLE):
    """A dependency the request needs is down: 503 with Retry-After (docs/operations.md)."""
