"""Search document writes (the `search` queue). Each call re-reads the listing and makes its
document match it, so the tasks are idempotent and safe to run twice or out of order.

A listing is *live* (searchable) when it is approved and its expiresAt is in the future. Any
other listing (pending, rejected, expired, approved but past expiresAt, deleted) has no document.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.utils import timezone

from listings.models import Listing, ListingStatus, SearchDocument

log = logging.getLogger(__name__)


def listing_is_live(listing: Listing, *, now=None) -> bool:
    """Approved and not past expiresAt (aware UTC). The expiry job may not have run yet, so the
    time is checked here too: an approved listing past expiresAt is not searchable."""
    now = now or timezone.now()
    return listing.status == ListingStatus.APPROVED and listing.expires_at is not None and listing.expires_at > now


def _vector():
    config = settings.SEARCH_CONFIG
    return SearchVector("title", weight="A", config=config) + SearchVector("description", weight="B", config=config)


@transaction.atomic
def search_document_sync(*, listing_id: int) -> str:
    """Upsert the listing's search document if it is live, delete it otherwise.

    Returns "indexed", "removed" (a document was deleted) or "absent" (nothing to do). The
    listing row is locked so that two syncs of one listing (redelivery, edit racing approval)
    cannot interleave; the last one to commit reflects the listing as it then was.
    """
    listing = Listing.objects.select_for_update().filter(pk=listing_id).first()
    if listing is None or not listing_is_live(listing):
        return search_document_remove(listing_id=listing_id)
    SearchDocument.objects.update_or_create(
        listing=listing,
        defaults={"title": listing.title, "description": listing.description, "category": listing.category},
    )
    if connection.vendor == "postgresql":
        # Computed by PostgreSQL from the stored columns: title weight A, description weight B.
        SearchDocument.objects.filter(pk=listing.pk).update(search_vector=_vector())
    return "indexed"


def search_document_remove(*, listing_id: int) -> str:
    """Delete the listing's search document. Returns "removed" or "absent" (idempotent)."""
    deleted, _ = SearchDocument.objects.filter(listing_id=listing_id).delete()
    return "removed" if deleted else "absent"


def search_documents_remove_many(*, listing_ids: list[int]) -> int:
    """Delete the documents of many listings in one statement (the expiry job, inside its
    batch transaction). Returns how many were deleted."""
    deleted, _ = SearchDocument.objects.filter(listing_id__in=listing_ids).delete()
    return deleted


def search_rebuild(*, batch_size: int = 500) -> dict:
    """Make every search document match its listing: index every live listing, delete the
    documents of listings that are not live. Returns {"indexed": n, "removed": n}."""
    now = timezone.now()
    live_ids = Listing.objects.filter(status=ListingStatus.APPROVED, expires_at__gt=now).values_list("pk", flat=True)
    indexed = 0
    for listing_id in live_ids.iterator(chunk_size=batch_size):
        indexed += search_document_sync(listing_id=listing_id) == "indexed"
    stale = SearchDocument.objects.exclude(listing__status=ListingStatus.APPROVED, listing__expires_at__gt=now)
    removed, _ = stale.delete()
    return {"indexed": indexed, "removed": removed}
