"""Events the listings app emits (docs/realtime.md)."""
from outbox.services import GROUP_ADMIN, publish, user_group

from .models import Listing

LISTINGS_UPDATE = "listings.update"
MODERATION_CLAIM = "moderation.claim"


def listing_payload(listing: Listing) -> dict:
    """`{id, title, status, reason, approvedAt, expiresAt, expiredAt, ownerId}` of `listing`."""
    return {
        "id": listing.pk,
        "title": listing.title,
        "status": listing.status,
        "reason": listing.reason,
        "ownerId": listing.owner_id,
        "approvedAt": listing.approved_at,
        "expiresAt": listing.expires_at,
        "expiredAt": listing.expired_at,
    }


def publish_listing_update(listing: Listing) -> None:
    """`listings.update` to the owner's sockets and to the `admin` room. Inside the transaction."""
    publish(channel=LISTINGS_UPDATE, groups=[user_group(listing.owner_id), GROUP_ADMIN], data=listing_payload(listing))


def publish_listing_deleted(listing: Listing) -> None:
    """`listings.update` with status `deleted` (the rest of the payload as it was) to the owner and
    `admin`, for a listing staff deleted. Inside the transaction, before the row goes."""
    publish(channel=LISTINGS_UPDATE, groups=[user_group(listing.owner_id), GROUP_ADMIN],
            data={**listing_payload(listing), "status": "deleted"})


def publish_listing_updates(listings) -> None:
    """`listings.update` for each of `listings` (owner + `admin`), written in bulk inside the
    transaction (outbox.services.publish_many): one INSERT per 1,000 rows, one send after commit."""
    from outbox.services import publish_many

    publish_many(events=((LISTINGS_UPDATE, [user_group(listing.owner_id), GROUP_ADMIN], listing_payload(listing))
                         for listing in listings))


def claim_payload(listing: Listing, *, action: str, actor) -> dict:
    """`{listingId, action ("claim"|"release"), claimedBy ({id, username} or None), claimedUntil, by}`:
    who holds `listing` now and who acted (`by`, {id, username}; an admin releasing differs from the holder)."""
    holder = listing.claimed_by
    return {
        "listingId": listing.pk,
        "action": action,
        "claimedBy": {"id": holder.pk, "username": holder.username} if holder else None,
        "claimedUntil": listing.claimed_until,
        "by": {"id": actor.pk, "username": actor.username},
    }


def publish_moderation_claim(listing: Listing, *, action: str, actor) -> None:
    """`moderation.claim` to the `admin` room only (sellers never learn who reviews them). Inside the transaction."""
    publish(channel=MODERATION_CLAIM, groups=[GROUP_ADMIN], data=claim_payload(listing, action=action, actor=actor))
