"""Helpers of the listings tests: what a moderation request wrote, and a listing's claim."""
from __future__ import annotations

from audit.models import AuditLog
from listings.models import Listing
from notifications.models import Notification
from outbox.models import EventOutbox


def written() -> tuple[int, int, int]:
    """(audit rows, outbox rows, notifications): a refused request must leave all three as they were."""
    return AuditLog.objects.count(), EventOutbox.objects.count(), Notification.objects.count()


def claim_state(listing_id: int) -> tuple:
    """(status, claimed_by_id, claimed_until) of the listing, read from the database."""
    row = Listing.objects.get(pk=listing_id)
    return row.status, row.claimed_by_id, row.claimed_until
