"""Notification fan-out per channel, opt-outs, once-only sends, retries and permanent errors."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from notifications.models import Device, Notification, NotificationPreference, NotificationStatus
from notifications.providers import PermanentProviderError, PushResult, TransientProviderError
from notifications.services import notification_enqueue, notification_send
from notifications.tasks import notification_deliver, notification_send_run
from outbox.models import EventOutbox

from ..factories import UserFactory
from ..notifications_fixtures import scripted  # noqa: F401

PAYLOAD = {"id": 7, "title": "Sofa", "expiresAt": "2026-12-04T20:30:00+00:00"}


def _reachable_user(token="tok-a", **pref):
    user = UserFactory(email="asha@example.com")
    Device.objects.create(user=user, token=token, platform="android")
    NotificationPreference.objects.create(user=user, phone="+919812345678", **pref)
    return user


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Run the deliver task as a worker would (its after-commit sends included)."""
    def run(user, key="listing_expiring_1d:7", template="listing_expiring_1d", payload=PAYLOAD):
        with django_capture_on_commit_callbacks(execute=True):
            return notification_deliver.apply(kwargs={"user_id": user.pk, "template_key": template,
                                                      "payload": payload, "dedupe_key": key}).get()
    return run


def test_one_event_fans_out_to_each_channel_with_its_own_dedupe_key(db, scripted, django_capture_on_commit_callbacks):
    user = _reachable_user()
    with django_capture_on_commit_callbacks(execute=True):
        notification_enqueue(user_id=user.pk, template_key="listing_expiring_1d", payload=PAYLOAD,
                             dedupe_key="listing_expiring_1d:7")

    rows = {n.channel: n for n in Notification.objects.filter(user=user)}
    assert {c: n.dedupe_key for c, n in rows.items()} == {
        "push": "listing_expiring_1d:7:push", "sms": "listing_expiring_1d:7:sms", "email": "listing_expiring_1d:7:email"}
    assert {n.status for n in rows.values()} == {"sent"}
    # The text is the template rendered with the payload, in local time (20:30 UTC = 02:00 IST next day).
    assert scripted["push"].calls == [{
        "tokens": ["tok-a"], "title": "Listing expires tomorrow", "body": "“Sofa” expires on 05 Dec 2026, 02:00 IST.",
        "data": {"notificationId": str(rows["push"].pk), "templateKey": "listing_expiring_1d", "id": "7",
                 "title": "Sofa", "expiresAt": "2026-12-04T20:30:00+00:00"}}]
    assert scripted["sms"].calls == [{"to": "+919812345678",
                                      "body": "dgt: your listing “Sofa” expires within a day, on 05 Dec 2026, 02:00 IST."}]
    assert [c["to"] for c in scripted["email"].calls] == ["asha@example.com"]
    assert scripted["email"].calls[0]["subject"] == "“Sofa” expires within a day"
    (event,) = EventOutbox.objects.filter(channel="notifications.new", group=f"user.{user.pk}")
    assert event.payload["channels"] == ["push", "sms", "email"]
    assert event.payload["ids"] == [rows["push"].pk, rows["sms"].pk, rows["email"].pk]


@pytest.mark.parametrize(("pref", "expected"), [
    ({"push_enabled": False}, ["email", "sms"]),
    ({"sms_enabled": False, "email_enabled": False}, ["push"]),
    ({"push_enabled": False, "sms_enabled": False, "email_enabled": False}, []),
    ({"phone_active": False}, ["email", "push"]),
])
def test_opted_out_channels_get_nothing(db, scripted, pref, expected, deliver):
    user = _reachable_user(**pref)
    deliver(user)
    assert sorted(Notification.objects.filter(user=user).values_list("channel", flat=True)) == expected
    assert sorted(ch for ch, cls in scripted.items() if cls.calls) == expected


def test_user_without_device_or_phone_gets_email_only_and_inactive_devices_count_as_none(db, scripted, deliver):
    user = UserFactory(email="b@example.com")
    Device.objects.create(user=user, token="old", active=False)
    deliver(user)
    assert list(Notification.objects.filter(user=user).values_list("channel", flat=True)) == ["email"]
    assert scripted["push"].calls == [] and scripted["sms"].calls == []


def test_template_key_without_text_is_sent_with_the_generic_text_and_logged(db, scripted, caplog,
                                                                            django_capture_on_commit_callbacks):
    user = _reachable_user(push_enabled=False, email_enabled=False)
    with caplog.at_level("WARNING", logger="dgt.notifications"), \
            django_capture_on_commit_callbacks(execute=True):
        notification_enqueue(user_id=user.pk, template_key="listing_boosted", payload={}, dedupe_key="b:1")
    assert "listing_boosted" in caplog.text
    assert scripted["sms"].calls == [{"to": "+919812345678", "body": "dgt: you have a new notification."}]


def test_redelivered_deliver_task_records_and_sends_once(db, scripted, deliver):
    user = _reachable_user()
    deliver(user)
    outbox = EventOutbox.objects.count()
    deliver(user)  # the broker hands the same message to a worker again

    assert Notification.objects.filter(user=user).count() == 3
    assert [len(cls.calls) for cls in scripted.values()] == [1, 1, 1]
    assert EventOutbox.objects.count() == outbox  # no second notifications.new


def test_redelivered_send_task_sends_once(db, scripted, deliver):
    user = _reachable_user(sms_enabled=False, email_enabled=False)
    deliver(user)
    notification = Notification.objects.get(user=user)

    assert notification_send_run.apply(kwargs={"notification_id": notification.pk}).get() == "sent"
    notification.refresh_from_db()
    assert len(scripted["push"].calls) == 1
    assert (notification.status, notification.attempts) == ("sent", 1)


def test_a_send_claimed_by_another_worker_is_not_sent_again(db, scripted):
    user = _reachable_user(sms_enabled=False, email_enabled=False, push_enabled=False)
    notification = Notification.objects.create(user=user, template_key="listing_expired", channel="email",
                                               payload=PAYLOAD, dedupe_key="k:email", status=NotificationStatus.SENDING)
    assert notification_send(notification_id=notification.pk) == "sending"
    assert scripted["email"].calls == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_send_task_running_twice_at_once_sends_once(scripted):
    # Given a slow provider and two workers running the same send task at the same moment.
    user = UserFactory(email="c@example.com")
    notification = Notification.objects.create(user=user, template_key="listing_expired", channel="email",
                                               payload=PAYLOAD, dedupe_key="k2:email")
    scripted["email"].script = [lambda **kw: time.sleep(0.5) or "slow-ok"] * 2
    barrier, results = threading.Barrier(2), []

    def worker():
        barrier.wait(timeout=10)
        results.append(notification_send(notification_id=notification.pk))
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == ["sending", "sent"]
    assert len(scripted["email"].calls) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 1)


def test_transient_error_is_retried_then_sent(monkeypatch, db, scripted, settings, deliver):
    monkeypatch.setattr(notification_send_run, "max_retries", 3)
    user = _reachable_user(sms_enabled=False, push_enabled=False)
    scripted["email"].script = [TransientProviderError("503 from provider")]
    deliver(user)
    notification = Notification.objects.get(user=user)
    assert len(scripted["email"].calls) == 2
    assert (notification.status, notification.attempts) == ("sent", 2)


def test_transient_errors_past_the_last_retry_mark_failed(monkeypatch, db, scripted, settings, deliver):
    monkeypatch.setattr(notification_send_run, "max_retries", 2)
    user = _reachable_user(sms_enabled=False, push_enabled=False)
    scripted["email"].script = [TransientProviderError("timeout")] * 5
    deliver(user)
    notification = Notification.objects.get(user=user)
    assert len(scripted["email"].calls) == 3  # first try + 2 retries
    assert (notification.status, notification.attempts) == ("failed", 3)
    assert notification.error.startswith("gave up after 3 attempts: timeout")


def test_invalid_push_tokens_deactivate_their_devices(db, scripted, deliver):
    user = _reachable_user(sms_enabled=False, email_enabled=False)
    Device.objects.create(user=user, token="tok-b", platform="ios")
    scripted["push"].script = [PushResult(sent=["tok-b"], invalid={"tok-a": "UnregisteredError: gone"})]
    deliver(user)

    assert scripted["push"].calls[0]["tokens"] == ["tok-a", "tok-b"]
    assert Notification.objects.get(user=user).status == "sent"  # reached tok-b
    assert dict(Device.objects.values_list("token", "active")) == {"tok-a": False, "tok-b": True}
    assert Device.objects.get(token="tok-a").deactivation_reason == "UnregisteredError: gone"


def test_push_with_every_token_invalid_fails_and_the_next_event_skips_push(db, scripted, deliver):
    user = _reachable_user(sms_enabled=False, email_enabled=False)
    scripted["push"].script = [PushResult(invalid={"tok-a": "InvalidArgumentError: bad token"})]
    deliver(user)
    notification = Notification.objects.get(user=user)
    assert notification.status == "failed" and "bad token" in notification.error
    assert Device.objects.get(token="tok-a").active is False

    deliver(user, key="listing_expired:7")
    assert Notification.objects.filter(user=user).count() == 1  # no active device: no push row


def test_unsubscribed_number_fails_and_deactivates_the_phone(db, scripted, deliver):
    user = _reachable_user(push_enabled=False, email_enabled=False)
    scripted["sms"].script = [PermanentProviderError("twilio 400 code 21610", recipient_invalid=True)]
    deliver(user)
    assert Notification.objects.get(user=user).status == "failed"
    assert NotificationPreference.objects.get(user=user).phone_active is False
    assert len(scripted["sms"].calls) == 1  # permanent: not retried


def test_permanent_error_of_our_request_keeps_the_number(db, scripted, deliver):
    user = _reachable_user(push_enabled=False, email_enabled=False)
    scripted["sms"].script = [PermanentProviderError("twilio 400 code 21602: body required")]
    deliver(user)
    assert Notification.objects.get(user=user).status == "failed"
    assert NotificationPreference.objects.get(user=user).phone_active is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_by_two_workers_at_once_is_recorded_and_sent_once(scripted):
    # Given one event whose deliver task two workers run at the same moment (broker redelivery).
    user = _reachable_user()
    barrier, errors = threading.Barrier(2), []

    def worker():
        try:
            barrier.wait(timeout=10)
            result = notification_deliver.apply(kwargs={"user_id": user.pk, "template_key": "listing_expired",
                                                        "payload": PAYLOAD, "dedupe_key": "listing_expired:7"})
            assert result.successful(), result.result
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(Notification.objects.values_list("channel", "status")) == [
        ("email", "sent"), ("push", "sent"), ("sms", "sent")]
    assert [len(cls.calls) for cls in scripted.values()] == [1, 1, 1]


def test_recording_a_batch_costs_the_same_queries_for_3_or_30_events(db, scripted, django_assert_num_queries):
    from notifications.services import NotificationRequest, notifications_record

    users = [_reachable_user(token=f"tok-{i}") for i in range(2)]
    users += [UserFactory(email=f"u{i}@example.com") for i in range(2)]

    def batch(n, tag):
        return [NotificationRequest(users[i % 4].pk, "listing_expired", PAYLOAD, f"{tag}:{i}") for i in range(n)]

    # channels (users LEFT JOIN preferences + EXISTS device), INSERT … ON CONFLICT DO NOTHING
    # RETURNING, outbox INSERT; no savepoint (the rows are recorded in the caller's transaction).
    with django_assert_num_queries(3):
        assert len(notifications_record(requests=batch(3, "small"))) == 3 + 3 + 1
    with django_assert_num_queries(3):
        assert len(notifications_record(requests=batch(30, "large"))) == 8 * 3 + 8 * 3 + 7 + 7
