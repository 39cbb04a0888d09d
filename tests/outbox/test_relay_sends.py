"""A process with OUTBOX_SEND_AFTER_COMMIT off (the Procfile's `web` line) does no after-commit
work: its events and follow-ups are written due at once, and the relay loop, looking for due rows
every OUTBOX_RELAY_POLL_SECONDS (outbox.due), sends them (docs/realtime.md "Write path")."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from outbox.due import due_now
from outbox.followups import DISPATCH_TASK, _task, followup_enqueue
from outbox.loop import RelayLoop
from outbox.models import EventOutbox, FollowUp, FollowUpStatus, OutboxStatus
from outbox.services import publish

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


@pytest.mark.django_db(transaction=True)
def test_due_now_sees_rows_due_at_once_and_not_rows_due_later(settings, seller):
    assert due_now() == (False, False)
    with transaction.atomic():  # sent after commit (by this process): due later, for the relay's retry only
        publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 1})
    assert due_now() == (False, False)
    settings.OUTBOX_SEND_AFTER_COMMIT = False
    with transaction.atomic():
        publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 2})
    assert due_now() == (True, False)
    with transaction.atomic():
        followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": 1})
    assert due_now() == (True, True)
    EventOutbox.objects.update(next_attempt_at=timezone.now() + timezone.timedelta(seconds=30))
    FollowUp.objects.update(next_attempt_at=timezone.now() + timezone.timedelta(seconds=30))
    assert due_now() == (False, False)  # waiting out a retry: the loop's regular tick covers them


@pytest.mark.django_db(transaction=True)
def test_the_relay_sends_never_dispatched_follow_ups_as_one_message(relay_sends, seller, monkeypatch):
    with transaction.atomic():
        for listing_id in (1, 2, 3):
            followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listing_id})
    monkeypatch.undo()
    messages = []
    monkeypatch.setattr(_task(DISPATCH_TASK), "apply_async", lambda *a, **kw: messages.append(kw["kwargs"]["ids"]))

    out = RelayLoop().tick(events=False)

    ids = list(FollowUp.objects.order_by("id").values_list("id", flat=True))
    assert out["followUps"]["dispatched"] == 3 and messages == [ids]
    assert set(FollowUp.objects.values_list("dispatches", flat=True)) == {1}
    assert not FollowUp.objects.filter(next_attempt_at__lte=timezone.now()).exists()  # again only if not done


@pytest.mark.django_db(transaction=True)
def test_the_relay_loop_sends_a_committed_event_within_its_poll_not_its_interval(relay_sends, seller, monkeypatch):
    monkeypatch.undo()  # the loop's own sends are real
    stop = threading.Event()
    loop = threading.Thread(target=RelayLoop().run, kwargs={"interval": 60, "poll": 0.02, "stop": stop}, daemon=True)
    loop.start()
    try:
        time.sleep(0.5)  # its first (full) tick is over: the next full one is 60 s away
        with transaction.atomic():
            publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 1})
        committed = time.monotonic()
        while EventOutbox.objects.filter(status=OutboxStatus.PENDING).exists():
            assert time.monotonic() - committed < 5, "not sent within 5 s (the loop's interval is 60 s)"
            time.sleep(0.01)
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive()
