"""Listings numbers for the live admin dashboard (core.stats registry, auto-discovered)."""
from core.stats import register_stat

from .models import Listing, ListingStatus


def pending_listings() -> int:
    """Listings waiting for moderation."""
    return Listing.objects.filter(status=ListingStatus.PENDING).count()


register_stat("pendingListings", pending_listings)
