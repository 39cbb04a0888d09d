"""Listings numbers for the live admin dashboard (core.stats registry, auto-discovered).

`pendingListings` is the queue size. The oldest pending age is given in whole minutes, as text,
so the snapshot changes once a minute rather than every second (the dashboard pushes only
changed snapshots). Decisions today per moderator come from the audit log (docs/moderation.md).
"""
from __future__ import annotations

from django.utils import timezone

from core.stats import register_stat

from .models import Listing, ListingStatus
from .selectors import decisions_today, oldest_pending_created_at
from .templatetags.humanize_age import age_text


def pending_listings() -> int:
    """Listings waiting for moderation."""
    return Listing.objects.filter(status=ListingStatus.PENDING).count()


def oldest_pending_age() -> str | None:
    """Age of the oldest pending listing in whole minutes ("0 min" under a minute), None when empty."""
    created = oldest_pending_created_at()
    if created is None:
        return None
    seconds = (timezone.now() - created).total_seconds()
    return age_text(seconds - seconds % 60) if seconds >= 60 else "0 min"


register_stat("pendingListings", pending_listings)
register_stat("oldestPendingAge", oldest_pending_age)
register_stat("decisionsToday", lambda: decisions_today())
