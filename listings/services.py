"""Listing writes: owner CRUD and moderation (approve / reject).

Every write owns its transaction. Moderation locks the listing row, checks the transition,
writes the audit row and the outbox events in the same transaction, and records the owner's
notification there (sent after commit). Errors: `NotFound` (404), `Forbidden` (403), `Conflict` (409).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.compiled import inserts_together
from core.errors import NotFound, ValidationFailed
from notifications.recording import notification_record
from outbox.alerts import admin_alert
from outbox.followups import followups_together

from .claims import check_pending, claim_clear, moderation_lock
from .events import listing_payload, publish_listing_deleted, publish_listing_update
from .lock_objects import listing_decide_if_free, listing_qs_select_for_update
from .models import Listing, ListingStatus
from .reasons import reject_reason_resolve
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


@transaction.atomic
def listing_remove(*, listing_id: int, actor, reason: str = "") -> None:
    """Delete a listing as staff (Django admin's delete, single or bulk): in one transaction the
    row goes, one AuditLog `listing.delete` (title, owner, status before), `listings.update` with
    status `deleted` to the owner and `admin`, and the search document is removed after commit.
    Raises NotFound when the listing is already gone. Admin permissions decide who may call it
    (only admins delete listings, docs/access-and-hardening.md)."""
    try:
        listing = listing_qs_select_for_update().get(pk=listing_id)
    except Listing.DoesNotExist:
        raise NotFound("Listing not found.") from None
    audit_record(action="listing.delete", entity_type="listing", entity_id=listing.pk, user=actor, reason=reason,
                 metadata={"title": listing.title, "ownerId": listing.owner_id, "status": listing.status})
    publish_listing_deleted(listing)
    listing.delete()
    search_remove_on_commit(listing_id=listing_id)


@transaction.atomic
def listing_approve(*, listing_id: int, actor, reason: str = "", expiry_days: int | None = None) -> Listing:
    """Approve a pending listing: it goes live now and expires `expiry_days` (1..365, default
    LISTING_DEFAULT_EXPIRY_DAYS) from now. A listing nobody claims, or `actor` claims, can be
    approved; the decision ends the claim (docs/moderation.md).

    Writes the audit row, publishes `listings.update` to the owner and `admin`, and records
    `listing_approved` for the owner (sent after commit). Raises NotFound, Forbidden (own listing),
    Conflict `listing_claimed` (another moderator's live claim; nothing written) or
    `invalid_transition` (not pending: approved, rejected or expired).
    """
    expiry_days = settings.LISTING_DEFAULT_EXPIRY_DAYS if expiry_days is None else expiry_days
    if not 1 <= expiry_days <= 365:
        raise ValidationFailed("expiryDays must be between 1 and 365.", fields={"expiryDays": "Between 1 and 365."})
    now = timezone.now()
    changes = {"status": ListingStatus.APPROVED.value, "reason": reason, "approved_at": now,
               "expires_at": now + timedelta(days=expiry_days), "reminder_sent_3d": False, "reminder_sent_1d": False,
               "expired_at": None, "updated_at": now}
    # One guarded UPDATE .. RETURNING instead of SELECT .. FOR UPDATE then UPDATE (docs/benchmarks.md).
    decided = listing_decide_if_free(listing_id=listing_id, actor_id=actor.pk, now=now, changes=changes)
    if decided is not None:
        listing, channels = decided
    else:  # missing, the actor's own, claimed by another or not pending: say which, under the lock
        channels = None
        listing = moderation_lock(listing_id=listing_id, actor=actor, now=now)
        check_pending(listing, "approved")
        for field, value in changes.items():  # the row changed back between the two statements
            setattr(listing, field, value)
        listing.save(update_fields=[*changes, *claim_clear(listing)])
    # The audit row, the outbox rows and the follow-ups: one INSERT statement on PostgreSQL (docs/benchmarks.md).
    with inserts_together():
        audit_record(action="listing.approve", entity_type="listing", entity_id=listing.pk, user=actor,
                     reason=reason, metadata={"expiryDays": expiry_days, "expiresAt": listing.expires_at.isoformat()})
        _decision_effects(listing, "listing_approved", channels=channels)
    return listing


@transaction.atomic
def listing_reject(*, listing_id: int, actor, reason: str = "", reason_id: int | None = None) -> Listing:
    """Reject a pending listing with a reason shown to its owner: free text `reason`, a canned
    reason `reason_id`, or both (the canned text, then the free text; listings.reasons).

    Same claim rule and effects as approval (audit with {reasonId, reasonCode} when canned,
    `listings.update`, `listing_rejected` notification). Raises ValidationFailed (no reason,
    unknown `reason_id`), NotFound, Forbidden, Conflict `listing_claimed` or `invalid_transition`.
    """
    text, canned = reject_reason_resolve(reason=reason, reason_id=reason_id)
    listing = moderation_lock(listing_id=listing_id, actor=actor, now=timezone.now())
    check_pending(listing, "rejected")
    listing.status = ListingStatus.REJECTED
    listing.reason = text
    listing.save(update_fields=["status", "reason", "updated_at", *claim_clear(listing)])
    audit_record(action="listing.reject", entity_type="listing", entity_id=listing.pk, user=actor, reason=listing.reason,
                 metadata={"reasonId": canned.pk, "reasonCode": canned.code} if canned else None)
    _decision_effects(listing, "listing_rejected")
    return listing


def _decision_effects(listing: Listing, template_key: str, *, channels: list[str] | None = None) -> None:
    """After an approval or a rejection: `listings.update` to the owner and `admin`, the owner's
    `template_key` notification and the search update, whose two follow-ups are written with one
    INSERT (outbox.followups.followups_together; docs/benchmarks.md). `channels`: the owner's
    notification channels when the decision's statement read them (listings.lock_objects)."""
    publish_listing_update(listing)
    with followups_together():
        notification_record(user_id=listing.owner_id, template_key=template_key, payload=listing_payload(listing),
                            dedupe_key=f"{template_key}:{listing.pk}", channels=channels)
        search_sync_on_commit(listing_id=listing.pk)
