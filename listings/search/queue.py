"""Keeping search in step with a listing change: queue the search tasks after the caller's
transaction commits (docs/search-and-analytics.md). Apart from listings.search.services, which the
tasks themselves call, so neither module imports the other."""
from __future__ import annotations

from django.db import transaction

from listings.tasks import search_remove, search_upsert


def search_sync_on_commit(*, listing_id: int) -> None:
    """Queue `listings.tasks.search_upsert` for the listing once the caller's transaction
    commits (nothing is queued on rollback). A broker error after commit is logged, not raised:
    the change itself has committed; `manage.py search_rebuild` repairs a missed update."""
    transaction.on_commit(lambda: search_upsert.delay(listing_id=listing_id), robust=True)


def search_remove_on_commit(*, listing_id: int) -> None:
    """Queue `listings.tasks.search_remove` for the listing after commit (see search_sync_on_commit)."""
    transaction.on_commit(lambda: search_remove.delay(listing_id=listing_id), robust=True)
