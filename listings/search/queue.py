"""Keeping search in step with a listing change: record the search task as a follow-up of the
caller's transaction (outbox.followups; docs/search-and-analytics.md). It runs after commit, and
a broker outage at commit only delays it: the relay dispatches it when the broker is back."""
from __future__ import annotations

from outbox.followups import followup_enqueue

SEARCH_UPSERT = "listings.tasks.search_upsert"
SEARCH_REMOVE = "listings.tasks.search_remove"


def search_sync_on_commit(*, listing_id: int) -> None:
    """Run `listings.tasks.search_upsert` for the listing after the caller's transaction commits
    (nothing on rollback; at least once, the task re-reads the listing)."""
    followup_enqueue(task=SEARCH_UPSERT, kwargs={"listing_id": listing_id})


def search_remove_on_commit(*, listing_id: int) -> None:
    """Run `listings.tasks.search_remove` for the listing after commit (see search_sync_on_commit)."""
    followup_enqueue(task=SEARCH_REMOVE, kwargs={"listing_id": listing_id})
