"""Top-ups: a Razorpay Order for Checkout, credited exactly once when a captured payment pays it.

Paths to the credit (docs/wallet.md "Top-ups"): the app's `verify` (Checkout signature, then the
payment fetched from the gateway) and the `payment.captured` / `order.paid` webhooks. All end in
`topup_order_credit`, which locks the order row and credits only a `created` order; the journal
entry's `unique_key` (`topup:<payment id>`) and the order's one-to-one `transaction` are the
database's own guarantee behind the lock. Gateway HTTP always happens outside any transaction.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import Conflict, ErrorCode, NotFound, ServiceError, Unprocessable, ValidationFailed
from notifications.recording import notification_record

from ..errors import GatewayDown
from ..events import balance_event, publish
from ..gateways import GatewayOrder, GatewayPayment, GatewayRejected, GatewayTimeout, GatewayUnavailable, get_gateway
from ..models import Account, TopupOrder, TopupStatus, TransactionKind
from .ledger import entry_post

log = logging.getLogger(__name__)


def _today_start() -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def _check_limits(*, user_id: int, amount: Decimal) -> None:
    """Raise Unprocessable (422) when `amount` is outside TOPUP_MIN_AMOUNT..TOPUP_MAX_AMOUNT or the
    user's orders of today (local day, TIME_ZONE) would total more than TOPUP_DAILY_MAX. Every order
    counts, paid or not: an open order can still be paid, so not counting it would let a user
    open many orders and pay them all."""
    if not settings.TOPUP_MIN_AMOUNT <= amount <= settings.TOPUP_MAX_AMOUNT:
        raise Unprocessable(f"A top-up is between {settings.TOPUP_MIN_AMOUNT} and {settings.TOPUP_MAX_AMOUNT} INR.",
                            code=ErrorCode.TOPUP_AMOUNT_OUT_OF_RANGE,
                            fields={"amount": f"Between {settings.TOPUP_MIN_AMOUNT} and {settings.TOPUP_MAX_AMOUNT}."})
    today = (TopupOrder.objects.filter(user_id=user_id, created_at__gte=_today_start())
             .aggregate(total=Sum("amount"))["total"] or Decimal("0.00"))
    if today + amount > settings.TOPUP_DAILY_MAX:
        left = max(settings.TOPUP_DAILY_MAX - today, Decimal("0.00"))
        raise Unprocessable(f"Top-ups are limited to {settings.TOPUP_DAILY_MAX} INR per day (left today: {left}).",
                            code=ErrorCode.TOPUP_DAILY_LIMIT_EXCEEDED, fields={"amount": f"At most {left} today."})


def topup_order_prepare(*, user, amount: Decimal) -> GatewayOrder:
    """Check the limits and create the gateway Order (HTTP; call outside any transaction).
    Receipt `topup_<hex>` and notes {userId} go with it. Raises Unprocessable (422 limits),
    ValidationFailed (400 amount), GatewayDown (503)."""
    if amount <= 0 or amount.as_tuple().exponent < -2:
        raise ValidationFailed("Amount must be greater than zero.", fields={"amount": "Must be greater than zero."})
    _check_limits(user_id=user.pk, amount=amount)
    receipt = f"topup_{uuid.uuid4().hex}"
    try:
        return get_gateway().order_create(amount=amount, receipt=receipt,
                                          notes={"userId": str(user.pk), "receipt": receipt, "purpose": "dgt top-up"})
    except (GatewayTimeout, GatewayUnavailable, GatewayRejected) as exc:
        raise GatewayDown(f"The payment gateway could not create the order: {exc}") from exc


@transaction.atomic
def topup_order_record(*, user, amount: Decimal, order: GatewayOrder, idempotency_key: str = "") -> TopupOrder:
    """Store the created gateway `order` as the user's TopupOrder (status created). The user row is
    locked (FOR NO KEY UPDATE: no foreign-key insert waits for it) and the daily limit checked again,
    so concurrent top-ups of one user cannot pass it together. Raises Unprocessable (422 limits)."""
    get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    _check_limits(user_id=user.pk, amount=amount)
    return TopupOrder.objects.create(user=user, gateway_order_id=order.order_id, amount=amount,
                                     currency=order.currency or "INR", receipt=order.receipt or order.order_id[:40],
                                     idempotency_key=idempotency_key)


@transaction.atomic
def topup_order_credit(*, order_pk: int, payment_id: str, amount: Decimal, source: str) -> tuple[TopupOrder, bool]:
    """Credit the order's amount to its user for the captured payment `payment_id`, once.

    The order row is locked first: the first caller (verify or webhook) finds it `created`, writes
    the journal entry (wallet +amount, gateway clearing -amount, unique_key `topup:<payment id>`),
    marks it paid and publishes `wallet.balance`; `topup_credited` is notified after commit. Every
    later caller waits for that commit, finds it `paid` and returns (order, False).
    Raises Unprocessable (422 `payment_mismatch`) when `amount` is not the order's amount.
    """
    order = TopupOrder.objects.select_for_update().get(pk=order_pk)
    if order.status == TopupStatus.PAID:
        return order, False
    if amount != order.amount:
        raise Unprocessable(f"The payment is of {amount} INR, the order of {order.amount} INR.",
                            code=ErrorCode.PAYMENT_MISMATCH, fields={"paymentId": "Amount differs from the order."})
    tx, balance = entry_post(kind=TransactionKind.TOPUP, user_id=order.user_id, wallet_delta=order.amount,
                             counter_account=Account.GATEWAY_CLEARING, ref_id=order.gateway_order_id,
                             reason=f"top-up ({source})", unique_key=f"topup:{payment_id}")
    order.status, order.payment_id, order.transaction = TopupStatus.PAID, payment_id, tx
    order.paid_via, order.paid_at = source, timezone.now()
    order.save(update_fields=["status", "payment_id", "transaction", "paid_via", "paid_at"])
    publish(balance_event(user_id=order.user_id, balance=balance, transaction_id=tx.pk))
    notification_record(user_id=order.user_id, template_key="topup_credited",
                         payload={"amount": order.amount, "orderId": order.gateway_order_id, "balance": balance},
                         dedupe_key=f"topup_credited:{order.pk}")
    return order, True


def topup_payment_check(*, order: TopupOrder, payment: GatewayPayment) -> None:
    """Raise unless `payment` is a captured payment of `order` for its amount in INR:
    Unprocessable 422 `payment_mismatch` (other order, amount or currency) or `payment_failed`;
    Conflict 409 `payment_not_captured` (created / authorized: capture is still to come)."""
    if payment.order_id != order.gateway_order_id or payment.amount != order.amount or payment.currency != "INR":
        raise Unprocessable("The payment does not belong to this order or is of another amount.",
                            code=ErrorCode.PAYMENT_MISMATCH, fields={"paymentId": "Not a payment of this order."})
    if payment.status == "failed":
        raise Unprocessable("The payment failed; nothing was credited. The order can be paid again.",
                            code=ErrorCode.PAYMENT_FAILED, fields={"paymentId": "Failed."})
    if payment.status != "captured":
        raise Conflict(f"The payment is {payment.status}, not captured yet; it is credited once captured.",
                       code=ErrorCode.PAYMENT_NOT_CAPTURED, fields={"paymentId": payment.status})


def topup_verify(*, user, order_id: str, payment_id: str, signature: str) -> tuple[TopupOrder, bool]:
    """Credit the user's order `order_id` after Checkout: returns (order, credited now).

    Checks, in order, with nothing written before all pass: the order is the caller's (404
    otherwise, another user's order included); the signature is the hex HMAC-SHA256 of
    `order_id|payment_id` with the key secret (Razorpay "Verify payment signature"; 400
    `invalid_signature`); the payment, fetched from the gateway outside any transaction, is a
    captured payment of this order for its amount (see `topup_payment_check`). A verify of an
    order already paid by this payment answers the order again (credited False).
    Raises NotFound, ValidationFailed, Unprocessable, Conflict (409 `topup_already_paid`), GatewayDown.
    """
    order = TopupOrder.objects.filter(gateway_order_id=order_id, user_id=user.pk).first()
    if order is None:
        raise NotFound("No such top-up order.", fields={"orderId": "Not found."})
    gateway = get_gateway()
    if not gateway.payment_signature_verify(order_id=order_id, payment_id=payment_id, signature=signature):
        raise ValidationFailed("The payment signature is invalid.", code=ErrorCode.INVALID_SIGNATURE,
                               fields={"signature": "Invalid."})
    if order.status == TopupStatus.PAID:
        if order.payment_id == payment_id:
            return order, False
        raise Conflict("This order was already paid by another payment.", code=ErrorCode.TOPUP_ALREADY_PAID)
    try:
        payment = gateway.payment_fetch(payment_id=payment_id)
    except GatewayRejected as exc:
        raise Unprocessable(f"The gateway does not know this payment: {exc}", code=ErrorCode.PAYMENT_MISMATCH,
                            fields={"paymentId": "Unknown."}) from exc
    except (GatewayTimeout, GatewayUnavailable) as exc:
        raise GatewayDown(f"The payment gateway did not answer: {exc}") from exc
    topup_payment_check(order=order, payment=payment)
    order, credited = topup_order_credit(order_pk=order.pk, payment_id=payment_id, amount=payment.amount,
                                         source="verify")
    if not credited and order.payment_id != payment_id:
        raise Conflict("This order was already paid by another payment.", code=ErrorCode.TOPUP_ALREADY_PAID)
    return order, credited


def topup_reconciliation_run(*, days: int = 3) -> dict:
    """Credit top-up orders of the last `days` days still `created` whose captured payment reached
    neither verify nor a webhook (app closed after paying, webhook lost): asks the gateway for each
    order's payments (HTTP outside any transaction) and credits the first captured one of the
    order's amount through `topup_order_credit` (`paid_via` "reconciliation"), so still once.
    Returns {checked, credited, errors}. Safe to run twice at once (the order row lock)."""
    gateway = get_gateway()
    since = timezone.now() - timedelta(days=days)
    checked = credited = errors = 0
    for order in TopupOrder.objects.filter(status=TopupStatus.CREATED, created_at__gte=since).order_by("pk"):
        checked += 1
        try:
            payments = gateway.order_payments(order_id=order.gateway_order_id)
        except (GatewayTimeout, GatewayUnavailable, GatewayRejected) as exc:
            errors += 1
            log.warning("top-up reconciliation: order %s: %s", order.gateway_order_id, exc)
            continue
        for payment in payments:
            try:
                topup_payment_check(order=order, payment=payment)
            except ServiceError:
                continue
            _, done = topup_order_credit(order_pk=order.pk, payment_id=payment.payment_id, amount=payment.amount,
                                         source="reconciliation")
            credited += done
            break
    return {"checked": checked, "credited": credited, "errors": errors}
