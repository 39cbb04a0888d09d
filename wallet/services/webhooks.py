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
from core.errors import ErrorCode, ValidationFailed

from ..events import publish_admin_alert
from ..gateways import RAZORPAY_PAYOUT_STATUS, payout_status_from_gateway
from ..gateways.razorpay import from_paise
from ..models import Payout, WebhookEvent
from .ledger import topup_credit
from .payouts import payout_transition


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
    kind = event.split(".", 1)[0]
    entity = ((data.get("payload") or {}).get(kind) or {}).get("entity")
    return entity if isinstance(entity, dict) else {}


def _payment_captured(entity: dict) -> tuple[str, str]:
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
            elif event.startswith("payout."):
                outcome, detail = _payout_event(event, entity)
            else:
                outcome, detail = "ignored", "event not handled"
            if outcome == "ignored" and event == "payment.captured":
                publish_admin_alert(kind="webhook_ignored", message=f"Razorpay {event} {entity_id} ignored: {detail}",
                                    eventId=event_id)
            row.outcome, row.detail = outcome, detail[:500]
            row.save(update_fields=["outcome", "detail"])
    except IntegrityError:
        if WebhookEvent.objects.filter(Q(event_id=event_id) | Q(entity_id=entity_id, event=event[:64])).exists():
            return "duplicate"
        raise
    return outcome
