"""Canned rejection reasons (docs/moderation.md): admins keep the list, moderators pick from it."""
from __future__ import annotations

from django.db import transaction

from audit.services import audit_record
from core.errors import ValidationFailed

from .models import CannedReason


def reject_reason_resolve(*, reason: str = "", reason_id: int | None = None) -> tuple[str, CannedReason | None]:
    """The reason text a rejection stores, and the canned reason it came from.

    `reason_id` picks an active CannedReason; its text comes first and a free-text `reason`, if
    any, is added on the next line. Without `reason_id` the free text alone (required).
    Raises ValidationFailed (`reasonId` unknown or inactive, or no reason at all).
    """
    free = (reason or "").strip()
    if reason_id is None:
        if not free:
            raise ValidationFailed.required("reason", "A reason is required to reject a listing.")
        return free, None
    canned = CannedReason.objects.filter(pk=reason_id, active=True).first()
    if canned is None:
        raise ValidationFailed(f"No active canned reason {reason_id}.",
                               fields={"reasonId": "Unknown or inactive canned reason."})
    return (f"{canned.text}\n{free}" if free else canned.text), canned


@transaction.atomic
def canned_reason_save(*, reason: CannedReason, actor) -> CannedReason:
    """Create or update a canned reason (Django admin's save), audited as `canned_reason.create` or
    `canned_reason.update` with the fields' values in metadata."""
    created = reason.pk is None
    reason.save()
    audit_record(action="canned_reason.create" if created else "canned_reason.update", entity_type="canned_reason",
                 entity_id=reason.pk, user=actor,
                 metadata={"code": reason.code, "title": reason.title, "text": reason.text,
                           "position": reason.position, "active": reason.active})
    return reason


@transaction.atomic
def canned_reason_delete(*, reason: CannedReason, actor) -> None:
    """Delete a canned reason (rejections keep their stored text), audited as `canned_reason.delete`."""
    audit_record(action="canned_reason.delete", entity_type="canned_reason", entity_id=reason.pk, user=actor,
                 metadata={"code": reason.code, "title": reason.title})
    reason.delete()


DEMO_REASONS = [
    ("prohibited-item", "Prohibited item", "This item is not allowed on the marketplace (see the posting rules)."),
    ("misleading-price", "Misleading price", "The price is missing, a placeholder or does not match the description."),
    ("poor-photos", "Poor or missing photos", "Please add clear photos of the actual item."),
    ("duplicate", "Duplicate listing", "You already have a live listing for this item."),
    ("wrong-category", "Wrong category", "Please post this in the category that fits the item."),
    ("contact-in-text", "Contact details in text", "Please remove phone numbers and links from the title and description."),
]


def canned_reasons_demo() -> None:
    """Create the demo canned reasons that are missing (by code); idempotent (ops demo data)."""
    for position, (code, title, text) in enumerate(DEMO_REASONS, start=1):
        CannedReason.objects.get_or_create(code=code, defaults={"title": title, "text": text, "position": position})
