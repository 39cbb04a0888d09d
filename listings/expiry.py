"""Expiry reminders and expiry of approved listings (docs/notifications.md).

Run hourly by beat (`listings.tasks.expiry_reminders_run`, crontab minute 0, Asia/Kolkata).
Three phases, each in bounded batches of EXPIRY_BATCH_SIZE rows, each batch in its own
transaction:

1. expire: approved listings with expiresAt <= now become expired (expiredAt = now), publish
   `listings.update` and notify `listing_expired`;
2. 1-day reminder: approved, expiresAt in (now, now + 1 day], reminderSent1d false ->
   `listing_expiring_1d`; reminderSent3d is set too, so a listing first seen inside the last
   day is not told "3 days" after "1 day";
3. 3-day reminder: approved, expiresAt in (now, now + 3 days], reminderSent3d false ->
   `listing_expiring_3d`.

Claiming: each batch selects its rows FOR UPDATE SKIP LOCKED and flips the flag/status in the
same transaction, so two runs at once take disjoint rows and a repeated run finds nothing: a
reminder is sent once. The notification dedupe keys include expiresAt, a second safety net.

Cost: every query is a range scan of an index that holds only candidate rows — (status,
expires_at) for expiry and partial indexes on expires_at WHERE approved AND NOT reminded for
the reminders — so the work grows with the listings that are due, not with all listings.
Outbox rows, notifications and their send follow-ups are written once per batch (bulk INSERTs;
one task message after commit).

Times are compared as instants (aware UTC), so local-time day boundaries need no special case:
a listing expiring at 02:00 IST is reminded by the runs at 02:00 IST three days and one day
before and expires at the 02:00 IST run.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications.recording import NotificationRequest, notifications_record

from .events import listing_payload, publish_listing_updates
from .models import Listing, ListingStatus
from .search.services import search_documents_remove_many

PAYLOAD_FIELDS = ("id", "owner_id", "title", "status", "reason", "approved_at", "expires_at", "expired_at")


def _claim(due: Q, batch_size: int) -> list[Listing]:
    """Lock up to `batch_size` due listings no other transaction holds, soonest expiry first."""
    return list(
        Listing.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(due)
        .order_by("expires_at", "id")
        .only(*PAYLOAD_FIELDS)[:batch_size]
    )


def _dedupe_key(template_key: str, listing: Listing) -> str:
    return f"{template_key}:{listing.pk}:{int(listing.expires_at.timestamp())}"


def _notify(template_key: str, listings: list[Listing]) -> None:
    notifications_record(requests=[
        NotificationRequest(listing.owner_id, template_key, listing_payload(listing), _dedupe_key(template_key, listing))
        for listing in listings
    ])


def _expire_batch(now: datetime, batch_size: int) -> int:
    with transaction.atomic():
        listings = _claim(Q(status=ListingStatus.APPROVED, expires_at__lte=now), batch_size)
        if not listings:
            return 0
        Listing.objects.filter(pk__in=[listing.pk for listing in listings]).update(
            status=ListingStatus.EXPIRED, expired_at=now, updated_at=now)
        for listing in listings:
            listing.status, listing.expired_at = ListingStatus.EXPIRED, now
        search_documents_remove_many(listing_ids=[listing.pk for listing in listings])
        publish_listing_updates(listings)
        _notify("listing_expired", listings)
    return len(listings)


def _remind_batch(now: datetime, days: int, batch_size: int) -> int:
    flag = f"reminder_sent_{days}d"
    with transaction.atomic():
        due = Q(status=ListingStatus.APPROVED, expires_at__gt=now, expires_at__lte=now + timedelta(days=days),
                **{flag: False})
        listings = _claim(due, batch_size)
        if not listings:
            return 0
        flags = {"reminder_sent_1d": True, "reminder_sent_3d": True} if days == 1 else {flag: True}
        Listing.objects.filter(pk__in=[listing.pk for listing in listings]).update(**flags, updated_at=now)
        _notify(f"listing_expiring_{days}d", listings)
    return len(listings)


def expiry_reminders_run(*, now: datetime | None = None, batch_size: int | None = None) -> dict:
    """Run the three phases until nothing is due. `now` (aware) defaults to the current time.

    Returns `{"expired": n, "reminded1d": n, "reminded3d": n, "batches": n}` — the listings this
    run claimed (a concurrent run's claims are not counted here).
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.EXPIRY_BATCH_SIZE
    counts = {"expired": 0, "reminded1d": 0, "reminded3d": 0, "batches": 0}
    phases = (("expired", lambda: _expire_batch(now, batch_size)),
              ("reminded1d", lambda: _remind_batch(now, 1, batch_size)),
              ("reminded3d", lambda: _remind_batch(now, 3, batch_size)))
    for name, batch in phases:
        while True:
            claimed = batch()
            counts[name] += claimed
            if claimed:
                counts["batches"] += 1
            if claimed < batch_size:
                break
    return counts
