"""Notifications as an outbox: rows recorded in the caller's transaction, a lost task message
recovered by the sweeper, sent once however many sweeps run (docs/notifications.md)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from dgt.jobs import JOBS
from notifications.models import Notification, NotificationStatus
from notifications.providers import TransientProviderError
from notifications.recording import NotificationRequest, notification_record, notifications_record
from notifications.tasks import notification_send_run
from outbox.models import EventOutbox

from ..accounts.factories import UserFactory

PAYLOAD = {"id": 7, "title": "Sofa", "expiresAt": "2026-12-04T20:30:00+00:00"}


def _later(**delta):
    return timezone.now() + timedelta(**delta)


@pytest.fixture
def lost_messages(monkeypatch):
    """The broker loses every send message (a worker popped it and was SIGKILLed): the follow-ups'
    messages to the send tasks (outbox.followups) vanish."""
    dropped = []
    monkeypatch.setattr("outbox.followups._fan_out", lambda row_id, task, kwargs, **options: dropped.append(kwargs))
    return dropped


def test_rows_and_event_are_written_in_the_callers_transaction(db, scripted, lost_messages,
                                                                django_capture_on_commit_callbacks):
    user = UserFactory(email="a@example.com")
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            ids = notification_record(user_id=user.pk, template_key="listing_expired", payload=PAYLOAD,
                                       dedupe_key="listing_expired:7")
            # Before commit: the row and its notifications.new event exist in this transaction.
            assert list(Notification.objects.values_list("id", "status", "dedupe_key")) == [
                (ids[0], "queued", "listing_expired:7:email")]
            (event,) = EventOutbox.objects.filter(channel="notifications.new", group=f"user.{user.pk}")
            assert (event.payload["ids"], event.payload["channels"]) == (ids, ["email"])
    assert len(callbacks) == 2  # the outbox send and the notification send, both after commit only


def test_rolled_back_caller_leaves_no_row_no_event_no_task(db, scripted, django_capture_on_commit_callbacks):
    user = UserFactory(email="a@example.com")
    before = EventOutbox.objects.count()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            notification_record(user_id=user.pk, template_key="listing_expired", payload=PAYLOAD,
                                 dedupe_key="listing_expired:7")
            raise RuntimeError("the caller fails after recording")
    assert Notification.objects.count() == 0
    assert EventOutbox.objects.count() == before
    assert callbacks == [] and scripted["email"].calls == []


def test_lost_send_message_is_sent_exactly_once_by_the_sweeper(db, scripted, lost_messages, sweep,
                                                                django_capture_on_commit_callbacks):
    # Given an event recorded in a committed transaction whose send message the broker lost.
    user = UserFactory(email="a@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            (pk,) = notification_record(user_id=user.pk, template_key="listing_expired", payload=PAYLOAD,
                                         dedupe_key="listing_expired:7")
    assert lost_messages == [{"notification_id": pk}]
    assert scripted["email"].calls == []

    # The sweeper leaves a fresh row to its own message...
    assert sweep() == {"requeued": 0, "staleSending": 0}
    # ...and sends it once the row is older than NOTIFICATION_SWEEP_AFTER_SECONDS.
    assert sweep(now=_later(minutes=3)) == {"requeued": 1, "staleSending": 0}
    assert len(scripted["email"].calls) == 1
    assert Notification.objects.get(pk=pk).status == "sent"

    # A second sweep, and the original message arriving late, send nothing more.
    assert sweep(now=_later(minutes=8)) == {"requeued": 0, "staleSending": 0}
    assert notification_send_run.apply(kwargs={"notification_id": pk}).get() == "sent"
    assert len(scripted["email"].calls) == 1


def test_lost_messages_of_a_batch_are_swept(db, scripted, lost_messages, sweep, django_capture_on_commit_callbacks):
    users = [UserFactory(email=f"u{i}@example.com") for i in range(3)]
    requests = [NotificationRequest(u.pk, "listing_expired", PAYLOAD, f"listing_expired:{u.pk}") for u in users]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ids = notifications_record(requests=requests)
    # After commit: the events' send and ONE message carrying the batch's follow-ups, one per row.
    assert len(callbacks) == 2
    assert lost_messages == [{"notification_id": pk} for pk in ids]
    assert sweep(now=_later(minutes=3))["requeued"] == 3
    assert sorted(c["to"] for c in scripted["email"].calls) == ["u0@example.com", "u1@example.com", "u2@example.com"]


def test_a_failing_broker_after_commit_keeps_the_commit_and_the_sweeper_sends(db, scripted, monkeypatch, sweep,
                                                                               django_capture_on_commit_callbacks):
    def broker_down(row_id, task, kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("outbox.followups._fan_out", broker_down)
    user = UserFactory(email="a@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            notification_record(user_id=user.pk, template_key="listing_expired", payload=PAYLOAD,
                                 dedupe_key="listing_expired:7")
    # robust on_commit: the caller's committed work stands, the row waits for the sweeper.
    assert Notification.objects.get().status == "queued"
    monkeypatch.undo()
    assert sweep(now=_later(minutes=3))["requeued"] == 1
    assert Notification.objects.get().status == "sent"


def test_sweeper_leaves_claimed_rows_and_retries_waiting_for_their_backoff(db, scripted, settings, sweep):
    user = UserFactory(email="a@example.com")
    old = timezone.now() - timedelta(hours=2)

    def row(key, **fields):
        pk = Notification.objects.create(user=user, template_key="listing_expired", channel="email",
                                         payload=PAYLOAD, dedupe_key=key, **fields).pk
        Notification.objects.filter(pk=pk).update(created_at=old)
        return pk

    sending = row("sending:email", status=NotificationStatus.SENDING, attempts=1, claimed_at=old)
    row("sent:email", status=NotificationStatus.SENT, attempts=1, claimed_at=old)
    row("failed:email", status=NotificationStatus.FAILED, attempts=1, claimed_at=old)
    # Put back to queued after a transient error a minute ago: its Celery retry is still due.
    waiting = row("waiting:email", attempts=2, claimed_at=timezone.now() - timedelta(minutes=1))
    # Put back to queued long ago: its retry message is lost.
    lost_retry = row("lost-retry:email", attempts=2, claimed_at=old)

    # A worker killed after its claim may have reached the provider: not resent (at most once), counted.
    assert sweep() == {"requeued": 1, "staleSending": 1}
    statuses = dict(Notification.objects.values_list("id", "status"))
    assert (statuses[sending], statuses[waiting], statuses[lost_retry]) == ("sending", "queued", "sent")
    assert len(scripted["email"].calls) == 1


def test_swept_row_continues_its_retry_count(db, monkeypatch, scripted, settings, sweep):
    monkeypatch.setattr(notification_send_run, "max_retries", 3)
    user = UserFactory(email="a@example.com")
    old = timezone.now() - timedelta(hours=2)
    pk = Notification.objects.create(user=user, template_key="listing_expired", channel="email", payload=PAYLOAD,
                                     dedupe_key="k:email", attempts=3, claimed_at=old).pk
    Notification.objects.filter(pk=pk).update(created_at=old)
    scripted["email"].script = [TransientProviderError("503")] * 5

    sweep()
    notification = Notification.objects.get(pk=pk)
    # Three tries (retries 0..2) before the message of retry 3 was lost: the swept send is retry 3,
    # the last one (1 + NOTIFICATION_MAX_RETRIES tries in all), then failed.
    assert (notification.status, notification.attempts, len(scripted["email"].calls)) == ("failed", 4, 1)
    assert notification.error.startswith("gave up after 4 attempts")


def test_sweep_is_a_job_in_the_jobs_table_and_runs_with_runjob(db, scripted, capsys):
    assert JOBS["notifications_sweep"].task == "notifications.tasks.notifications_sweep_run"
    call_command("runjob", "notifications_sweep")
    assert '"requeued": 0' in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_send_each_lost_notification_once(scripted, lost_messages, sweep, together):
    # Given 4 notifications whose messages were lost, a slow provider and two sweepers at once.
    users = [UserFactory(email=f"u{i}@example.com") for i in range(4)]
    ids = notifications_record(requests=[
        NotificationRequest(u.pk, "listing_expired", PAYLOAD, f"listing_expired:{u.pk}") for u in users])
    assert len(ids) == 4 and scripted["email"].calls == []
    scripted["email"].script = [lambda **kw: time.sleep(0.2) or "slow-ok"] * 8

    def sweeper():
        return sweep(now=_later(minutes=3))

    results = together(sweeper, sweeper)

    assert all(isinstance(r, dict) for r in results), results
    assert sum(r["requeued"] for r in results) >= 4  # both may pick the same rows...
    assert sorted(c["to"] for c in scripted["email"].calls) == [f"u{i}@example.com" for i in range(4)]  # ...sent once
    assert sorted(Notification.objects.values_list("status", "attempts")) == [("sent", 1)] * 4
