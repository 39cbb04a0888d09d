"""A process with OUTBOX_SEND_AFTER_COMMIT off (the Procfile's `web` line) does no after-commit
work: its events and follow-ups are written due at once, PostgreSQL wakes the relay loop at the
commit (outbox.wake, migration outbox 0005), and the loop sends them (docs/realtime.md "Write path")."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from outbox.followups import followup_enqueue
from outbox.loop import RelayLoop
from outbox.models import EventOutbox, FollowUp, FollowUpStatus, OutboxStatus
from outbox.services import publish
from outbox.wake import CHANNEL, Waker

from ..listings.factories import ListingFactory

pytestmark = pytest.mark.usefixtures("closed_breakers")


@pytest.fixture
def relay_sends(settings, monkeypatch):
    """OUTBOX_SEND_AFTER_COMMIT off; any after-commit send or dispatch fails the test."""
    settings.OUTBOX_SEND_AFTER_COMMIT = False

    def forbidden(*args, **kwargs):
        raise AssertionError("the request sent after commit")

    monkeypatch.setattr("outbox.services.send_rows", forbidden)
    monkeypatch.setattr("outbox.followups.followups_send", forbidden)


@pytest.mark.django_db(transaction=True)
def test_an_approval_leaves_its_events_and_follow_ups_due_at_once_to_the_relay(relay_sends, api_for, moderator,
                                                                              seller, monkeypatch):
    listing = ListingFactory(owner=seller)
    before = timezone.now()

    response = api_for(moderator).post(f"/api/listings/{listing.pk}/approve", {"expiryDays": 30}, format="json")

    assert response.status_code == 200
    events = EventOutbox.objects.filter(status=OutboxStatus.PENDING)
    # listings.update to the owner and admin, the notification's notifications.new to the owner
    assert events.count() == 3 and events.filter(channel="listings.update").count() == 2
    follow_ups = FollowUp.objects.filter(status=FollowUpStatus.PENDING)
    assert sorted(follow_ups.values_list("task", flat=True)) == [
        "listings.tasks.search_upsert", "notifications.tasks.notification_send_run"]
    after = timezone.now()
    for row in [*events, *follow_ups]:  # due at once: the relay does not wait out a retry delay
        assert before <= row.next_attempt_at <= after and row.next_attempt_at <= row.created_at
        assert row.last_error == ""
    assert set(events.values_list("attempts", flat=True)) == {0}
    assert set(follow_ups.values_list("dispatches", flat=True)) == {0}

    monkeypatch.undo()  # the relay loop's own sends
    out = RelayLoop().tick()

    assert out["events"]["sent"] == 3 and out["followUps"]["dispatched"] == 2
    assert not EventOutbox.objects.filter(status=OutboxStatus.PENDING).exists()
    assert not FollowUp.objects.filter(status=FollowUpStatus.PENDING, next_attempt_at__lte=timezone.now()).exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_write_leaves_nothing_for_the_relay(relay_sends, seller):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 1})
        followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": 1})
        raise RuntimeError("the change failed")
    assert not EventOutbox.objects.exists() and not FollowUp.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_wakes_the_listener_at_commit_of_rows_due_at_once_only(settings, seller):
    waker = Waker()
    try:
        assert waker.wait(0) == set()  # connected and listening; nothing queued
        settings.OUTBOX_SEND_AFTER_COMMIT = False
        with transaction.atomic():
            publish(channel="listings.update", groups=[f"user.{seller.pk}", "admin"], data={"id": 1})
            assert waker.wait(0.2) == set()  # not before the commit
        assert waker.wait(5) == {"events"}
        with transaction.atomic():
            followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": 1})
        assert waker.wait(5) == {"followups"}

        with pytest.raises(RuntimeError), transaction.atomic():
            publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 2})
            raise RuntimeError("rolled back")
        assert waker.wait(0.3) == set()

        settings.OUTBOX_SEND_AFTER_COMMIT = True  # rows due after the send had its chance wake nobody
        with transaction.atomic():
            publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 3})
            followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": 3})
        assert waker.wait(0.3) == set()
    finally:
        waker.close()


def _listening() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
                       [f"LISTEN {CHANNEL}"])
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_relay_loop_sends_a_committed_event_at_once_not_after_its_interval(relay_sends, seller, monkeypatch):
    monkeypatch.undo()  # the loop's own sends are real
    stop = threading.Event()
    loop = threading.Thread(target=RelayLoop().run, kwargs={"interval": 60, "stop": stop}, daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 20
        while not _listening():
            assert time.monotonic() < deadline, "the relay loop never listened"
            time.sleep(0.05)
        time.sleep(0.2)  # its first (full) tick is over: the next one comes only from a wake-up
        with transaction.atomic():
            publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 1})
        committed = time.monotonic()
        while EventOutbox.objects.filter(status=OutboxStatus.PENDING).exists():
            assert time.monotonic() - committed < 5, "not sent within 5 s (the loop's interval is 60 s)"
            time.sleep(0.02)
    finally:
        stop.set()
        with connection.cursor() as cursor:  # wake it so it sees the stop at once
            cursor.execute("SELECT pg_notify(%s, 'stop')", [CHANNEL])
        loop.join(10)
    assert not loop.is_alive()
