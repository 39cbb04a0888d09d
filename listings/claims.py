"""Moderation claims: one moderator at a time reviews a pending listing (docs/moderation.md).

A claim is two fields on the listing, `claimed_by` and `claimed_until`, written under the
listing's row lock (the same lock approval and rejection take), so two moderators claiming at
once serialize on the row and exactly one wins. A claim ends on a decision, on release, when
an admin releases it, or when `claimed_until` passes (nothing runs then: an expired claim simply
counts as none). Every claim and release writes an audit row and publishes `moderation.claim`
to `admin` in the same transaction, like decisions do.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.errors import Conflict, ErrorCode, Forbidden, NotFound

from .events import publish_moderation_claim
from .lock_objects import listing_qs_select_for_update
from .models import Listing, ListingStatus


def moderation_lock(*, listing_id: int, actor, now: datetime) -> Listing:
    """Lock and return the listing `actor` is about to moderate (call inside a transaction).

    Raises NotFound, Forbidden (`own_listing`: the actor owns it) and Conflict
    (`listing_claimed`: another moderator's claim is live at `now`). Writes nothing.
    """
    try:
        listing = listing_qs_select_for_update().get(pk=listing_id)
    except Listing.DoesNotExist:
        raise NotFound("Listing not found.") from None
    if listing.owner_id == actor.pk:
        raise Forbidden("Moderators cannot moderate their own listings.", code=ErrorCode.OWN_LISTING)
    holder = listing.live_claimant_id(now)
    if holder is not None and holder != actor.pk:
        raise Conflict(f"Listing {listing.pk} is being reviewed by {listing.claimed_by.username} until "
                       f"{listing.claimed_until.isoformat()}.", code=ErrorCode.LISTING_CLAIMED)
    return listing


def check_pending(listing: Listing, verb: str) -> None:
    """Raise Conflict `invalid_transition` unless `listing` is pending; `verb` ends the message."""
    if listing.status != ListingStatus.PENDING:
        raise Conflict(f"Listing {listing.pk} is {listing.status}; only pending listings can be {verb}.",
                       code=ErrorCode.INVALID_TRANSITION)


@transaction.atomic
def listing_claim(*, listing_id: int, actor) -> Listing:
    """Claim a pending listing for `actor` for MODERATION_CLAIM_MINUTES from now; claiming one's
    own live claim again renews it. Returns the listing with `claimed_by`/`claimed_until` set.

    Audited (`listing.claim`, metadata {claimedUntil, renewed}) and published as
    `moderation.claim` to `admin`. Raises NotFound, Forbidden (own listing), Conflict
    `listing_claimed` (another moderator's live claim; nothing written) or `invalid_transition`
    (not pending).
    """
    now = timezone.now()
    listing = moderation_lock(listing_id=listing_id, actor=actor, now=now)
    check_pending(listing, "claimed")
    renewed = listing.live_claimant_id(now) == actor.pk
    listing.claimed_by = actor
    listing.claimed_until = now + timedelta(minutes=settings.MODERATION_CLAIM_MINUTES)
    # updated_at is left alone: a claim is not a change of the seller's listing.
    listing.save(update_fields=["claimed_by", "claimed_until"])
    audit_record(action="listing.claim", entity_type="listing", entity_id=listing.pk, user=actor,
                 metadata={"claimedUntil": listing.claimed_until.isoformat(), "renewed": renewed})
    publish_moderation_claim(listing, action="claim", actor=actor)
    return listing


@transaction.atomic
def listing_release(*, listing_id: int, actor) -> Listing:
    """End the live claim on a listing: the holder may release their own, an admin anyone's.

    Releasing a listing nobody holds changes nothing and writes nothing (safe to repeat).
    Audited (`listing.release`, metadata {claimedBy, claimedByUsername}) and published as
    `moderation.claim` (action "release") to `admin`. Raises NotFound, Conflict
    `listing_claimed` when a moderator who is not an admin releases another's claim.
    """
    now = timezone.now()
    try:
        listing = listing_qs_select_for_update().get(pk=listing_id)
    except Listing.DoesNotExist:
        raise NotFound("Listing not found.") from None
    holder_id = listing.live_claimant_id(now)
    if holder_id is None:
        return listing
    holder = listing.claimed_by
    if holder_id != actor.pk and not actor.is_admin:
        raise Conflict(f"Listing {listing.pk} is being reviewed by {holder.username}; only they or an admin can "
                       f"release it.", code=ErrorCode.LISTING_CLAIMED)
    listing.claimed_by = None
    listing.claimed_until = None
    listing.save(update_fields=["claimed_by", "claimed_until"])
    audit_record(action="listing.release", entity_type="listing", entity_id=listing.pk, user=actor,
                 metadata={"claimedBy": holder.pk, "claimedByUsername": holder.username})
    publish_moderation_claim(listing, action="release", actor=actor)
    return listing


def claim_clear(listing: Listing) -> list[str]:
    """Forget the claim on `listing` (in memory) as a decision ends it; returns the fields to save."""
    listing.claimed_by = None
    listing.claimed_until = None
    return ["claimed_by", "claimed_until"]
