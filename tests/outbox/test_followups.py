"""The task outbox (outbox.followups): follow-ups are rows in the change's transaction, sent after
commit as one message, and dispatched again by the relay when the broker was down."""
from __future__ import annotations

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from core.breaker import reset_all
from listings.models import ListingStatus, SearchDocument
from notifications.models import Notification, NotificationStatus
from outbox.followups import (
    DISPATCH_TASK, HEADER, _task, followup_enqueue, followups_enqueue, followups_relay, followups_together,
)
from outbox.models import EventOutbox, FollowUp, FollowUpStatus, OutboxStatus
from outbox.services import send_rows

from ..listings.factories import ListingFactory

pytestmark = pytest.mark.usefixtures("closed_breakers")


@pytest.fixture
def broker_down(monkeypatch):
    """Every publish fails as with Redis unreachable (kombu's error), until undone."""
    def failing(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for name in (DISPATCH_TASK, "listings.tasks.search_upsert", "notifications.tasks.notification_send_run"):
        monkeypatch.setattr(_task(name), "apply_async", failing)
    return lambda: (monkeypatch.undo(), reset_all())


def approve(api_for, moderator, listing):
    return api_for(moderator).post(f"/api/listings/{listing.pk}/approve", {"reason": "ok"}, format="json")


@pytest.mark.django_db(transaction=True)
def test_an_approval_sends_its_follow_ups_as_one_message_and_marks_them_done(api_for, moderator, seller,
                                                                             monkeypatch):
    listing = ListingFactory(owner=seller)
    dispatch = _task(DISPATCH_TASK)
    messages = []
    original = dispatch.apply_async
    monkeypatch.setattr(dispatch, "apply_async", lambda *a, **kw: (messages.append(kw["kwargs"]["ids"]),
                                                                     original(*a, **kw))[1])

    response = approve(api_for, moderator, listing)

    assert response.status_code == 200
    rows = list(FollowUp.objects.order_by("id").values_list("id", "task", "status"))
    tasks = [task for _, task, _ in rows]
    assert "listings.tasks.search_upsert" in tasks and "notifications.tasks.notification_send_run" in tasks
    assert messages == [[pk for pk, _, _ in rows]]  # one message carries every follow-up
    assert {status for _, _, status in rows} == {FollowUpStatus.DONE}
    assert SearchDocument.objects.filter(listing_id=listing.pk).exists()
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_follow_up(seller):
    listing = ListingFactory(owner=seller)
    with pytest.raises(RuntimeError), transaction.atomic():
        followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listing.pk})
        raise RuntimeError("rollback")
    assert FollowUp.objects.count() == 0
    with transaction.atomic():  # the next transaction is not confused by the dropped batch
        followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listing.pk})
    assert list(FollowUp.objects.values_list("status", flat=True)) == [FollowUpStatus.DONE]


@pytest.mark.django_db(transaction=True)
def test_follow_ups_enqueued_together_are_one_insert_and_one_message(seller, monkeypatch):
    listings = [ListingFactory(owner=seller) for _ in range(3)]
    dispatch = _task(DISPATCH_TASK)
    messages = []
    original = dispatch.apply_async
    monkeypatch.setattr(dispatch, "apply_async", lambda *a, **kw: (messages.append(kw["kwargs"]["ids"]),
                                                                     original(*a, **kw))[1])
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        with followups_together():
            first = followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listings[0].pk})
            with followups_together():  # a nested block joins the outer one
                more = followups_enqueue(items=[("listings.tasks.search_upsert", {"listing_id": listing.pk})
                                                for listing in listings[1:]])
            assert (first, more, FollowUp.objects.count()) == (None, [], 0)  # written when the block ends
        inserts = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"] and "followup" in q["sql"]]
        assert len(inserts) == 1

    rows = list(FollowUp.objects.order_by("id").values_list("id", "kwargs", "status"))
    assert [kwargs["listing_id"] for _, kwargs, _ in rows] == [listing.pk for listing in listings]
    assert messages == [[pk for pk, _, _ in rows]]
    assert {status for _, _, status in rows} == {FollowUpStatus.DONE}


@pytest.mark.django_db(transaction=True)
def test_an_error_inside_followups_together_writes_none_of_its_follow_ups(seller):
    listing = ListingFactory(owner=seller)
    with pytest.raises(RuntimeError), transaction.atomic(), followups_together():
        followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listing.pk})
        raise RuntimeError("rollback")
    assert FollowUp.objects.count() == 0
    with transaction.atomic():  # the block is over: the next follow-up is written at once again
        assert followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listing.pk}) is not None
    assert list(FollowUp.objects.values_list("status", flat=True)) == [FollowUpStatus.DONE]


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_commit_answers_200_and_the_relay_catches_up(api_for, moderator, seller, broker_down):
    listings = [ListingFactory(owner=seller) for _ in range(3)]

    statuses = [approve(api_for, moderator, listing).status_code for listing in listings]

    assert statuses == [200, 200, 200]
    assert ListingStatus.APPROVED == listings[0].__class__.objects.get(pk=listings[0].pk).status
    assert SearchDocument.objects.count() == 0
    pending = FollowUp.objects.filter(status=FollowUpStatus.PENDING)
    assert pending.count() == FollowUp.objects.count() >= 6
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.QUEUED}
    # Still down: the relay tries, fails, keeps every row due.
    assert followups_relay()["dispatched"] == 0
    assert pending.count() == FollowUp.objects.count()

    broker_down()  # the broker is back
    stats = followups_relay()

    assert stats["dispatched"] == FollowUp.objects.count() and stats["error"] == ""
    assert set(FollowUp.objects.values_list("status", flat=True)) == {FollowUpStatus.DONE}
    assert set(SearchDocument.objects.values_list("listing_id", flat=True)) == {lst.pk for lst in listings}
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}


@pytest.mark.django_db(transaction=True)
def test_a_follow_up_never_done_fails_after_the_last_dispatch_with_an_alert(settings, seller, monkeypatch):
    settings.FOLLOWUP_MAX_DISPATCHES = 2
    listing = ListingFactory(owner=seller)
    task = _task("listings.tasks.search_upsert")
    monkeypatch.setattr(task, "apply_async", lambda *a, **kw: None)  # accepted, never run (lost message)
    monkeypatch.setattr(_task(DISPATCH_TASK), "apply_async", lambda *a, **kw: None)
    with transaction.atomic():
        pk = followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listing.pk})

    for expected in (1, 2):
        FollowUp.objects.filter(pk=pk).update(next_attempt_at=FollowUp.objects.get(pk=pk).created_at)
        assert followups_relay()["dispatched"] == 1
        assert FollowUp.objects.get(pk=pk).dispatches == expected
    FollowUp.objects.filter(pk=pk).update(next_attempt_at=FollowUp.objects.get(pk=pk).created_at)
    assert followups_relay()["failed"] == 1

    assert FollowUp.objects.get(pk=pk).status == FollowUpStatus.FAILED
    alert = EventOutbox.objects.get(channel="admin.alert")
    assert alert.payload["kind"] == "followup.failed" and alert.payload["followUpIds"] == [pk]


@pytest.mark.django_db(transaction=True)
def test_send_rows_never_raises_when_marking_sent_fails(seller, monkeypatch):
    from outbox.services import publish

    with transaction.atomic():
        rows = publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 1})
    EventOutbox.objects.filter(pk=rows[0].pk).update(status=OutboxStatus.PENDING)

    def db_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("outbox.services._mark", db_gone)
    assert send_rows(rows) == 0  # logged, not raised: the change has committed


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_marking_done_does_not_wait_for_the_disk_on_postgresql():
    # given a pending follow-up
    from outbox.followups import followup_mark_done

    now = timezone.now()
    row = FollowUp.objects.create(task="listings.tasks.search_upsert", kwargs={"listing_id": 1},
                                  next_attempt_at=now, created_at=now)
    # when it is marked done (autocommit, as in a worker)
    assert followup_mark_done(row.pk) == 1
    # then the row is done, and only that statement's transaction ran with synchronous_commit off
    row.refresh_from_db()
    assert row.status == FollowUpStatus.DONE and row.done_at is not None
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    # and a second mark (a redelivered task) changes nothing
    assert followup_mark_done(row.pk) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("state", ["SUCCESS", "FAILURE"])
def test_a_task_ending_while_the_database_restarts_leaves_its_follow_up_pending(state, monkeypatch, caplog):
    # given a dispatched follow-up whose task has just ended in the worker
    from types import SimpleNamespace

    from django.db.models import QuerySet

    from outbox.followups import _after_task

    now = timezone.now()
    row = FollowUp.objects.create(task="listings.tasks.search_upsert", kwargs={"listing_id": 1},
                                  next_attempt_at=now, created_at=now, dispatches=1)
    task = SimpleNamespace(request=SimpleNamespace(dgt_followup=row.pk))

    def db_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    # when its row cannot be updated (PostgreSQL restarting)
    monkeypatch.setattr("outbox.followups.followup_mark_done", db_gone)
    monkeypatch.setattr(QuerySet, "update", db_gone)
    _after_task(sender=task, state=state)  # logged, not raised
    monkeypatch.undo()

    # then the row is as it was: pending, for the relay to dispatch again
    assert FollowUp.objects.filter(pk=row.pk, status=FollowUpStatus.PENDING, next_attempt_at=now).exists()
    assert f"follow-up {row.pk} ended {state} but its row was not updated" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_lone_follow_up_is_sent_as_its_own_tasks_message_and_marked_done(seller, monkeypatch):
    # Given a transaction with one follow-up, and the publishes of both tasks watched.
    listing = ListingFactory(owner=seller)
    dispatch, search = _task(DISPATCH_TASK), _task("listings.tasks.search_upsert")
    dispatched, published = [], []
    original_dispatch, original_search = dispatch.apply_async, search.apply_async
    monkeypatch.setattr(dispatch, "apply_async", lambda *a, **kw: (dispatched.append(kw), original_dispatch(*a, **kw))[1])
    monkeypatch.setattr(search, "apply_async", lambda *a, **kw: (published.append(kw), original_search(*a, **kw))[1])

    with transaction.atomic():
        row_id = followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listing.pk})

    # Then the one message is the task's own, carrying the row in its header (no fan-out hop) ...
    assert dispatched == []
    assert [(kw["kwargs"], kw["headers"]) for kw in published] == [({"listing_id": listing.pk}, {HEADER: row_id})]
    # ... and the task's success marked the row done.
    assert FollowUp.objects.get(pk=row_id).status == FollowUpStatus.DONE


@pytest.mark.django_db(transaction=True)
def test_a_lone_follow_up_with_the_broker_down_stays_pending_and_due(seller, broker_down):
    listing = ListingFactory(owner=seller)

    with transaction.atomic():
        row_id = followup_enqueue(task="listings.tasks.search_upsert", kwargs={"listing_id": listing.pk})

    # Nothing ran, the row is pending and due at once for the relay.
    row = FollowUp.objects.get(pk=row_id)
    assert (row.status, row.dispatches) == (FollowUpStatus.PENDING, 0)
    assert row.next_attempt_at <= timezone.now()
    assert SearchDocument.objects.count() == 0
