"""Listing writes: owner CRUD and moderation (approve / reject).

Every write owns its transaction. Moderation locks the listing row, checks the transition,
writes the audit row and the outbox events in the same transaction, and enqueues the owner's
notification after commit. Errors: `NotFound` (404), `Forbidden` (403), `Conflict` (409).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.errors import Conflict, ErrorCode, Forbidden, NotFound, ValidationFailed
from notifications.services import notification_enqueue
from outbox.alerts import admin_alert

from .events import listing_payload, publish_listing_update
from .lock_objects import listing_qs_select_for_update, listing_update_if_pending
from .models import Listing, ListingStatus
from .search.queue import search_remove_on_commit, search_sync_on_commit

EDITABLE_FIELDS = ("title", "description", "category", "price")


def _check_category(category: str) -> None:
    if category not in settings.LISTING_CATEGORIES:
        raise ValidationFailed(
            f"Unknown category {category!r}.", fields={"category": f"One of: {', '.join(settings.LISTING_CATEGORIES)}."}
        )


@transaction.atomic
def listing_create(*, owner, title: str, category: str, price: Decimal, description: str = "") -> Listing:
    """Create a pending listing for `owner`. `price` is INR with 2 places.
    Raises `admin.alert` (kind `listing.pending`) for the moderators' live dashboard.
    Raises ValidationFailed for a category outside LISTING_CATEGORIES."""
    _check_category(category)
    listing = Listing.objects.create(owner=owner, title=title, description=description, category=category,
                                     price=price)
    admin_alert(kind="listing.pending", message=f"New listing #{listing.pk} “{listing.title}” awaits moderation.",
                data={"listingId": listing.pk, "ownerId": owner.pk, "category": category})
    return listing


def _owned_locked(listing_id: int, owner) -> Listing:
    try:
        return listing_qs_select_for_update().get(pk=listing_id, owner=owner)
    except Listing.DoesNotExist:
        raise NotFound("Listing not found.") from None


@transaction.atomic
def listing_update(*, listing_id: int, owner, changes: dict) -> Listing:
    """Apply `changes` (subset of title, description, category, price) to the owner's listing.

    Status and dates cannot be set here, but moderation follows the content: when an approved,
    rejected or expired listing's content actually changes it goes back to pending (out of
    search, expiry cleared) for a moderator to look at again — otherwise an approved ad could be
    rewritten into anything. Publishes `listings.update` and a `listing.pending` alert then.
    Raises NotFound for another user's listing, ValidationFailed for an unknown category.
    """
    listing = _owned_locked(listing_id, owner)
    if "category" in changes:
        _check_category(changes["category"])
    changed = [f for f in EDITABLE_FIELDS if f in changes and getattr(listing, f) != changes[f]]
    for field in changed:
        setattr(listing, field, changes[field])
    resubmitted = bool(changed) and listing.status != ListingStatus.PENDING
    if resubmitted:
        listing.status = ListingStatus.PENDING
        listing.reason = ""
        listing.approved_at = listing.expires_at = listing.expired_at = None
        listing.reminder_sent_3d = listing.reminder_sent_1d = False
        changed += ["status", "reason", "approved_at", "expires_at", "expired_at", "reminder_sent_3d",
                    "reminder_sent_1d"]
    listing.save(update_fields=[*changed, "updated_at"])
    if resubmitted:
        publish_listing_update(listing)
        admin_alert(kind="listing.pending",
                    message=f"Listing #{listing.pk} “{listing.title}” was edited and awaits moderation again.",
                    data={"listingId": listing.pk, "ownerId": listing.owner_id})
    search_sync_on_commit(listing_id=listing.pk)
    return listing


@transaction.atomic
def listing_delete(*, listing_id: int, owner) -> None:
    """Delete the owner's listing. Raises NotFound for another user's listing."""
    _owned_locked(listing_id, owner).delete()
    search_remove_on_commit(listing_id=listing_id)


def _moderation_target(listing_id: int, actor) -> Listing:
    try:
        listing = listing_qs_select_for_update().get(pk=listing_id)
    except Listing.DoesNotExist:
        raise NotFound("Listing not found.") from None
    if listing.owner_id == actor.pk:
        raise Forbidden("Moderators cannot moderate their own listings.", code=ErrorCode.OWN_LISTING)
    return listing


@transaction.atomic
def listing_approve(*, listing_id: int, actor, reason: str = "", expiry_days: int | None = None) -> Listing:
    """Approve a pending listing: it goes live now and expires `expiry_days` (1..365, default
    LISTING_DEFAULT_EXPIRY_DAYS) from now.

    Writes the audit row, publishes `listings.update` to the owner and `admin`, and enqueues
    `listing_approved` for the owner after commit. Raises NotFound, Forbidden (own listing),
    Conflict when the listing is not pending (approved, rejected or expired).
    """
    expiry_days = settings.LISTING_DEFAULT_EXPIRY_DAYS if expiry_days is None else expiry_days
    if not 1 <= expiry_days <= 365:
        raise ValidationFailed("expiryDays must be between 1 and 365.", fields={"expiryDays": "Between 1 and 365."})
    now = timezone.now()
    changes = {"status": ListingStatus.APPROVED.value, "reason": reason, "approved_at": now,
               "expires_at": now + timedelta(days=expiry_days), "reminder_sent_3d": False, "reminder_sent_1d": False,
               "expired_at": None, "updated_at": now}
    listing = listing_update_if_pending(listing_id=listing_id, not_owner_id=actor.pk, changes=changes)
    if listing is None:  # not pending, the actor's own, or missing: find out which under the row lock
        listing = _moderation_target(listing_id, actor)
        if listing.status != ListingStatus.PENDING:
            raise Conflict(f"Listing {listing.pk} is {listing.status}; only pending listings can be approved.",
                           code=ErrorCode.INVALID_TRANSITION)
        for field, value in changes.items():
            setattr(listing, field, value)
        listing.save(update_fields=list(changes))
    audit_record(action="listing.approve", entity_type="listing", entity_id=listing.pk, user=actor, reason=reason,
                 metadata={"expiryDays": expiry_days, "expiresAt": listing.expires_at.isoformat()})
    publish_listing_update(listing)
    notification_enqueue(user_id=listing.owner_id, template_key="listing_approved",
                         payload=listing_payload(listing), dedupe_key=f"listing_approved:{listing.pk}")
    search_sync_on_commit(listing_id=listing.pk)
    return listing


@transaction.atomic
def listing_reject(*, listing_id: int, actor, reason: str) -> Listing:
    """Reject a pending listing with a reason shown to its owner.

    Same effects as approval (audit, `listings.update`, `listing_rejected` notification).
    Raises ValidationFailed for an empty reason, NotFound, Forbidden, Conflict when not pending.
    """
    if not reason or not reason.strip():
        raise ValidationFailed("A reason is required to reject a listing.", fields={"reason": "This field is required."})
    listing = _moderation_target(listing_id, actor)
    if listing.status != ListingStatus.PENDING:
        raise Conflict(f"Listing {listing.pk} is {listing.status}; only pending listings can be rejected.",
                       code=ErrorCode.INVALID_TRANSITION)
    listing.status = ListingStatus.REJECTED
    listing.reason = reason.strip()
    listing.save(update_fields=["status", "reason", "updated_at"])
    audit_record(action="listing.reject", entity_type="listing", entity_id=listing.pk, user=actor, reason=listing.reason)
    publish_listing_update(listing)
    notification_enqueue(user_id=listing.owner_id, template_key="listing_rejected",
                         payload=listing_payload(listing), dedupe_key=f"listing_rejected:{listing.pk}")
    search_sync_on_commit(listing_id=listing.pk)
    return listing
