"""The hourly expiry job: reminders once each, expiry at expiresAt, concurrency, batching."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from listings.expiry import expiry_reminders_run
from listings.models import Listing, ListingStatus
from notifications.models import Notification
from outbox.models import EventOutbox

from ..accounts.factories import UserFactory
from .factories import ListingFactory

pytestmark = pytest.mark.usefixtures("console_providers")

IST = ZoneInfo("Asia/Kolkata")


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def approved_listing(*, owner, expires_at: datetime, **kwargs) -> Listing:
    return ListingFactory(owner=owner, status=ListingStatus.APPROVED, approved_at=expires_at - timedelta(days=30),
                          expires_at=expires_at, **kwargs)


def _hourly_runs(start, hours):
    return [start + timedelta(hours=h) for h in range(hours)]


def test_four_days_hourly_one_reminder_of_each_and_expiry_at_the_instant(db, django_capture_on_commit_callbacks):
    # Given listings expiring at local times around midnight and 02:00 IST (UTC is 5:30 behind,
    # so 02:00 IST is 20:30 UTC of the previous day) and hourly runs at :00 IST for four days.
    owner = UserFactory()
    expiries = {
        "02:00": ist(2026, 12, 5, 2, 0),
        "00:00": ist(2026, 12, 5, 0, 0),
        "23:30": ist(2026, 12, 4, 23, 30),
        "05:30": ist(2026, 12, 5, 5, 30),  # 00:00 UTC
    }
    listings = {name: approved_listing(owner=owner, expires_at=at) for name, at in expiries.items()}
    runs = _hourly_runs(ist(2026, 12, 1, 0, 0), 4 * 24 + 8)  # Dec 1 00:00 .. Dec 5 07:00 IST

    # When the job runs every hour with time frozen at the run.
    expired_seen = {}
    with time_machine.travel(runs[0], tick=False) as traveller:
        for run_at in runs:
            traveller.move_to(run_at)
            with django_capture_on_commit_callbacks(execute=True):
                expiry_reminders_run()
            for name, listing in listings.items():
                listing.refresh_from_db()
                if listing.status == ListingStatus.EXPIRED and name not in expired_seen:
                    expired_seen[name] = run_at

    # Then each listing got exactly one 3-day, one 1-day and one expired notification, each at
    # the first hourly run at or after expiresAt - 3 days / - 1 day / expiresAt.
    def first_run_at_or_after(moment):
        return min(r for r in runs if r >= moment)

    for name, at in expiries.items():
        listing = listings[name]
        sent = {n.template_key: n for n in Notification.objects.filter(payload__id=listing.pk)}
        assert sorted(sent) == ["listing_expired", "listing_expiring_1d", "listing_expiring_3d"], name
        assert Notification.objects.filter(payload__id=listing.pk).count() == 3  # email only: no device/phone
        assert sent["listing_expiring_3d"].sent_at == first_run_at_or_after(at - timedelta(days=3)), name
        assert sent["listing_expiring_1d"].sent_at == first_run_at_or_after(at - timedelta(days=1)), name
        assert expired_seen[name] == first_run_at_or_after(at), name
        assert listing.expired_at == first_run_at_or_after(at)
        assert listing.reminder_sent_3d and listing.reminder_sent_1d
    # The 02:00 IST listing: reminded at 02:00 IST on Dec 2 and Dec 4, expired at 02:00 IST Dec 5.
    two_am = {n.template_key: n.sent_at for n in Notification.objects.filter(payload__id=listings["02:00"].pk)}
    assert two_am["listing_expiring_3d"] == ist(2026, 12, 2, 2, 0)
    assert two_am["listing_expiring_1d"] == ist(2026, 12, 4, 2, 0)
    assert expired_seen["02:00"] == ist(2026, 12, 5, 2, 0)
    # The 23:30 IST listing expires at the 00:00 run, not at the 23:00 run.
    assert expired_seen["23:30"] == ist(2026, 12, 5, 0, 0)
    assert len(mail.outbox) == 12
    assert all(n.status == "sent" for n in Notification.objects.all())
    # listings.update: one per expiry, to the owner and to admin.
    assert EventOutbox.objects.filter(channel="listings.update").count() == 4 * 2


def test_repeated_run_sends_nothing(db, django_capture_on_commit_callbacks):
    owner = UserFactory()
    now = ist(2026, 12, 1, 10, 0)
    approved_listing(owner=owner, expires_at=now + timedelta(hours=2))
    approved_listing(owner=owner, expires_at=now + timedelta(days=2))
    approved_listing(owner=owner, expires_at=now - timedelta(minutes=1))
    approved_listing(owner=owner, expires_at=now + timedelta(days=10))
    with django_capture_on_commit_callbacks(execute=True):
        first = expiry_reminders_run(now=now)
    outbox_rows, notifications = EventOutbox.objects.count(), Notification.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        second = expiry_reminders_run(now=now + timedelta(minutes=30))

    assert first == {"expired": 1, "reminded1d": 1, "reminded3d": 1, "batches": 3}
    assert second == {"expired": 0, "reminded1d": 0, "reminded3d": 0, "batches": 0}
    assert (EventOutbox.objects.count(), Notification.objects.count()) == (outbox_rows, notifications)
    assert len(mail.outbox) == 3


def test_listing_first_seen_inside_the_last_day_gets_only_the_one_day_reminder(db, django_capture_on_commit_callbacks):
    owner = UserFactory()
    now = ist(2026, 12, 1, 10, 0)
    listing = approved_listing(owner=owner, expires_at=now + timedelta(hours=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry_reminders_run(now=now)["reminded1d"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry_reminders_run(now=now + timedelta(hours=1))["reminded3d"] == 0
    assert list(Notification.objects.filter(payload__id=listing.pk).values_list("template_key", flat=True)) == [
        "listing_expiring_1d"]


@pytest.mark.parametrize("status", [ListingStatus.PENDING, ListingStatus.REJECTED, ListingStatus.EXPIRED])
def test_listings_that_are_not_approved_are_left_alone(db, django_capture_on_commit_callbacks, status):
    owner = UserFactory()
    now = ist(2026, 12, 1, 10, 0)
    for expires_at in (now - timedelta(hours=1), now + timedelta(hours=2), now + timedelta(days=2)):
        listing = approved_listing(owner=owner, expires_at=expires_at)
        Listing.objects.filter(pk=listing.pk).update(status=status)
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry_reminders_run(now=now) == {"expired": 0, "reminded1d": 0, "reminded3d": 0, "batches": 0}
    assert Notification.objects.count() == 0 and EventOutbox.objects.count() == 0
    assert Listing.objects.filter(status=status, reminder_sent_1d=False, reminder_sent_3d=False).count() == 3


def _queries_to_expire(count: int, *, owner, now, batch_size: int) -> int:
    for _ in range(count):
        approved_listing(owner=owner, expires_at=now - timedelta(minutes=5))
    with CaptureQueriesContext(connection) as queries:
        result = expiry_reminders_run(now=now, batch_size=batch_size)
    assert result["expired"] == count
    assert result["batches"] == -(-count // batch_size)
    return len(queries.captured_queries)


def test_batches_are_bounded_and_query_count_does_not_grow_with_due_rows(db):
    # Given 50 listings that are not due (the cost must not depend on them) and a batch size of 3.
    owner = UserFactory()
    now = ist(2026, 12, 1, 10, 0)
    for _ in range(50):
        approved_listing(owner=owner, expires_at=now + timedelta(days=20))
    cost = {n: _queries_to_expire(n, owner=owner, now=now, batch_size=3) for n in (1, 2, 4, 7)}

    # Then more rows in a batch cost no query, and each further batch (of up to 3 rows) costs the
    # same fixed number of statements (claim, update, bulk inserts...), not one per row.
    assert cost[1] == cost[2]
    per_batch = cost[4] - cost[2]
    assert cost[7] - cost[4] == per_batch
    # + 3 since the notifications are recorded in the batch's transaction (outbox): channels
    # SELECT, notification INSERT, notifications.new outbox INSERT.
    assert 3 <= per_batch <= 11
    assert Listing.objects.filter(status=ListingStatus.EXPIRED, expired_at=now).count() == 14


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_on_postgresql_send_nothing_twice(together):
    # Given 120 listings due for each of the three actions and two runs started together with
    # small batches, so their batches interleave.
    owner = UserFactory()
    now = ist(2026, 12, 1, 10, 0)
    groups = {
        "expired": [approved_listing(owner=owner, expires_at=now - timedelta(minutes=i + 1)) for i in range(120)],
        "reminded1d": [approved_listing(owner=owner, expires_at=now + timedelta(hours=1, minutes=i)) for i in range(120)],
        "reminded3d": [approved_listing(owner=owner, expires_at=now + timedelta(days=2, minutes=i)) for i in range(120)],
    }

    def run():
        return expiry_reminders_run(now=now, batch_size=10)

    results = together(run, run)

    # Then every listing was claimed by exactly one run, and each notification went out once.
    assert all(isinstance(result, dict) for result in results), results
    for key, listings in groups.items():
        assert results[0][key] + results[1][key] == len(listings), key
    assert EventOutbox.objects.filter(channel="listings.update").count() == 120 * 2
    assert Notification.objects.count() == 360
    assert Notification.objects.filter(status="sent").count() == 360
    assert len(mail.outbox) == 360
    assert len({m.body for m in mail.outbox}) == 360  # no email sent twice
    assert Listing.objects.filter(status=ListingStatus.EXPIRED).count() == 120
    assert Listing.objects.filter(reminder_sent_1d=True).count() == 120
    assert Listing.objects.filter(reminder_sent_3d=True).count() == 240  # the 1d group sets both flags
