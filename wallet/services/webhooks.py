"""Razorpay webhooks: verify the signature, store each event once, apply it.

`X-Razorpay-Signature` is the hex HMAC-SHA256 of the raw body with RAZORPAY_WEBHOOK_SECRET,
checked with the SDK's `Utility.verify_webhook_signature` (constant-time compare). Events are
deduplicated by event id (`X-Razorpay-Event-Id`, else a hash of the body) and by entity id +
event name (Razorpay may send the same fact under two event ids); the WebhookEvent row and the
effect commit together, so a crash never leaves an event marked done but not applied.
"""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from razorpay import Utility
from razorpay.errors import SignatureVerificationError

from core.api.text import describe, unstorable_at
from core.errors import ErrorCode, ServiceError, ValidationFailed

from ..events import publish_admin_alert
from ..fields import from_paise
from ..gateways import RAZORPAY_PAYOUT_STATUS, GatewayPayment, payout_status_from_gateway
from ..gateways.razorpay import RazorpayGateway
from ..models import Payout, TopupOrder, WebhookEvent
from .ledger import topup_credit
from .payout_accounts import payout_account_validation_apply
from .payouts import payout_transition
from .topups import topup_order_credit, topup_payment_check


def webhook_signature_verify(*, body: bytes, signature: str) -> None:
    """Raise ValidationFailed (400 `invalid_signature`) unless `signature` is the HMAC-SHA256 of
    `body` with RAZORPAY_WEBHOOK_SECRET. An unset secret accepts nothing."""
    secret = settings.RAZORPAY_WEBHOOK_SECRET
    try:
        ok = bool(secret and signature) and Utility(None).verify_webhook_signature(body.decode("utf-8"), signature,
                                                                                   secret)
    except (SignatureVerificationError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise ValidationFailed("Missing or invalid X-Razorpay-Signature.", code=ErrorCode.INVALID_SIGNATURE,
                               fields={"X-Razorpay-Signature": "Invalid."})


def _entity(data: dict, event: str) -> dict:
    # "payment.captured" -> payload.payment; "fund_account.validation.completed" -> payload["fund_account.validation"]
    kind = event.rsplit(".", 1)[0] if event.startswith("fund_account.validation.") else event.split(".", 1)[0]
    entity = ((data.get("payload") or {}).get(kind) or {}).get("entity")
    return entity if isinstance(entity, dict) else {}


def _topup_paid(order: TopupOrder, payment: dict) -> tuple[str, str]:
    """A captured payment of a top-up order (payment.captured or order.paid): credit it once."""
    try:
        seen = GatewayPayment(payment_id=str(payment["id"]), order_id=str(payment.get("order_id") or ""),
                              amount=from_paise(int(payment["amount"])), currency=str(payment.get("currency", "")),
                              status=str(payment.get("status") or ""))
        topup_payment_check(order=order, payment=seen)
    except (KeyError, TypeError, ValueError, ServiceError) as exc:
        detail = getattr(exc, "message", None) or f"malformed payment: {exc!r}"
        return "ignored", f"order {order.gateway_order_id}: {detail}"
    credited_order, credited = topup_order_credit(order_pk=order.pk, payment_id=seen.payment_id, amount=seen.amount,
                                                  source="webhook")
    if credited:
        return "processed", f"order {order.gateway_order_id}: credited {seen.amount} to user {order.user_id}"
    if credited_order.payment_id != seen.payment_id:
        return "ignored", (f"order {order.gateway_order_id} was paid by {credited_order.payment_id}; "
                           f"payment {seen.payment_id} is a second payment: refund it at the gateway")
    return "no_change", f"order {order.gateway_order_id} already credited"


def _payment_captured(entity: dict) -> tuple[str, str]:
    order = TopupOrder.objects.filter(gateway_order_id=str(entity.get("order_id") or "")).first()
    if order is not None:
        return _topup_paid(order, entity)
    # A captured payment with no order of ours: credited to notes.userId once per payment id.
    notes = entity.get("notes") if isinstance(entity.get("notes"), dict) else {}
    raw_user = notes.get("userId", notes.get("user_id"))
    try:
        user_id = int(raw_user)
        paise = int(entity["amount"])
    except (TypeError, ValueError, KeyError):
        return "ignored", "payment without notes.userId or amount"
    if entity.get("currency", "INR") != "INR" or paise <= 0:
        return "ignored", f"unsupported currency or amount: {entity.get('currency')} {paise}"
    if not get_user_model().objects.filter(pk=user_id).exists():
        return "ignored", f"no user {user_id}"
    amount: Decimal = from_paise(paise)
    _, credited = topup_credit(user_id=user_id, amount=amount, payment_id=str(entity["id"]))
    if not credited:
        return "no_change", f"payment {entity['id']} already credited"
    return "processed", f"credited {amount} to user {user_id}"


def _payout_event(event: str, entity: dict) -> tuple[str, str]:
    ref = str(entity.get("reference_id") or "")
    payout = Payout.objects.filter(Q(gateway_payout_id=entity.get("id")) | Q(pk=int(ref) if ref.isdigit() else None)).first()
    if payout is None:
        return "ignored", f"unknown payout {entity.get('id')} / {ref}"
    suffix = event.split(".", 1)[1]
    raw = suffix if suffix in RAZORPAY_PAYOUT_STATUS else str(entity.get("status") or "")
    details = entity.get("status_details") or {}
    _, changed = payout_transition(payout_id=payout.pk, status=payout_status_from_gateway(raw), source="webhook",
                                   gateway_payout_id=entity.get("id"), gateway_status=raw,
                                   reason=str(details.get("description") or entity.get("failure_reason") or ""))
    return ("processed" if changed else "no_change"), f"payout {payout.pk} {raw}"


def _order_paid(data: dict) -> tuple[str, str]:
    payload = data.get("payload") or {}
    order_entity = (payload.get("order") or {}).get("entity") or {}
    payment = (payload.get("payment") or {}).get("entity") or {}
    order = TopupOrder.objects.filter(gateway_order_id=str(order_entity.get("id") or "")).first()
    if order is None or not isinstance(payment, dict):
        return "ignored", f"unknown order {order_entity.get('id')}"
    return _topup_paid(order, payment)


def _validation_event(entity: dict) -> tuple[str, str]:
    try:
        validation = RazorpayGateway.validation_from(entity)
    except KeyError:
        return "ignored", "validation without id"
    changed = payout_account_validation_apply(validation=validation)
    return ("processed" if changed else "no_change"), f"validation {validation.validation_id} {validation.status}"


def webhook_receive(*, body: bytes, signature: str, event_id: str = "") -> str:
    """Verify, deduplicate and apply one Razorpay webhook. Returns the outcome: "processed",
    "no_change", "ignored" (unknown event, user or payout; stored, not retried) or "duplicate".
    Raises ValidationFailed (400) for a bad signature or body; nothing is written then."""
    webhook_signature_verify(body=body, signature=signature)
    try:
        data = json.loads(body)
        event = str(data["event"])
    except (ValueError, KeyError, TypeError):
        raise ValidationFailed("The webhook body is not a Razorpay event.", code=ErrorCode.INVALID_EVENT) from None
    bad = unstorable_at(data)
    if bad is not None:  # core.api.text: NUL and unpaired surrogates cannot be stored
        raise ValidationFailed(describe(bad), code=ErrorCode.INVALID_TEXT)
    entity = _entity(data, event)
    event_id = (event_id or "")[:100] or "sha256:" + hashlib.sha256(body).hexdigest()[:90]
    entity_id = str(entity.get("id") or event_id)[:64]
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(event_id=event_id, event=event[:64], entity_id=entity_id, payload=data)
            if event == "payment.captured":
                outcome, detail = _payment_captured(entity)
            elif event == "order.paid":
                outcome, detail = _order_paid(data)
            elif event == "payment.failed":
                outcome, detail = "no_change", f"payment {entity_id} failed; nothing credited"
            elif event.startswith("fund_account.validation."):
                outcome, detail = _validation_event(entity)
            elif event.startswith("payout."):
                outcome, detail = _payout_event(event, entity)
            else:
                outcome, detail = "ignored", "event not handled"
            if outcome == "ignored" and event in ("payment.captured", "order.paid"):
                publish_admin_alert(kind="webhook_ignored", message=f"Razorpay {event} {entity_id} ignored: {detail}",
                                    eventId=event_id)
            row.outcome, row.detail = outcome, detail[:500]
            row.save(update_fields=["outcome", "detail"])
    except IntegrityError:
        if WebhookEvent.objects.filter(Q(event_id=event_id) | Q(entity_id=entity_id, event=event[:64])).exists():
            return "duplicate"
        raise
    return outcome
