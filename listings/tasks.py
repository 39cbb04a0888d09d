"""Celery tasks of the listings app (thin: ids in, services do the work).

`search_*` tasks run on the `search` queue (CELERY_TASK_ROUTES). They re-read the listing, so a
task delivered twice, late or out of order still leaves the right document. The expiry job's
work is in listings.expiry.
"""
from core.tasks import retrying_task

from .expiry import expiry_reminders_run as _expiry_reminders_run
from .search.services import search_document_remove, search_document_sync


@retrying_task(acks_late=True)
def search_upsert(*, listing_id: int) -> dict:
    """Index the listing if it is live (approved, not past expiresAt), remove it otherwise."""
    return {"listingId": listing_id, "result": search_document_sync(listing_id=listing_id)}


@retrying_task(acks_late=True)
def search_remove(*, listing_id: int) -> dict:
    """Remove the listing's search document (deleted listings)."""
    return {"listingId": listing_id, "result": search_document_remove(listing_id=listing_id)}


@retrying_task()
def expiry_reminders_run() -> dict:
    """Hourly (dgt.jobs `expiry_reminders`): expire due listings and send the 3-day and 1-day
    reminders, once each. Safe to run twice at once. Returns the counts of what it did."""
    return _expiry_reminders_run()
