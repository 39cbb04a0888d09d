"""Notification fan-out per channel, opt-outs, once-only sends, retries and permanent errors."""
from __future__ import annotations

import time

import pytest
from django.db import transaction

from notifications.models import Device, Notification, NotificationPreference, NotificationStatus
from notifications.providers import PermanentProviderError, PushResult, TransientProviderError
from notifications.recording import NotificationRequest, notification_record, notifications_record
from notifications.sending import notification_send
from notifications.tasks import notification_send_run
from outbox.models import EventOutbox

from ..accounts.factories import UserFactory

PAYLOAD = {"id": 7, "title": "Sofa", "expiresAt": "2026-12-04T20:30:00+00:00"}


def _reachable_user(token="tok-a", **pref):
    user = UserFactory(email="asha@example.com")
    Device.objects.create(user=user, token=token, platform="android")
    NotificationPreference.objects.create(user=user, phone="+919812345678", **pref)
    return user


@pytest.fixture
def notify(django_capture_on_commit_callbacks):
    """Record one event as a service does and run its sends after commit (inline)."""
    def run(user, key="listing_expiring_1d:7", template="listing_expiring_1d", payload=PAYLOAD):
        with django_capture_on_commit_callbacks(execute=True):
            return notification_record(user_id=user.pk, template_key=template, payload=payload, dedupe_key=key)
    return run


def test_one_event_fans_out_to_each_channel_with_its_own_dedupe_key(db, scripted, notify):
    user = _reachable_user()
    notify(user)

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
def test_opted_out_channels_get_nothing(db, scripted, pref, expected, notify):
    user = _reachable_user(**pref)
    notify(user)
    assert sorted(Notification.objects.filter(user=user).values_list("channel", flat=True)) == expected
    assert sorted(ch for ch, cls in scripted.items() if cls.calls) == expected


def test_user_without_device_or_phone_gets_email_only_and_inactive_devices_count_as_none(db, scripted, notify):
    user = UserFactory(email="b@example.com")
    Device.objects.create(user=user, token="old", active=False)
    notify(user)
    assert list(Notification.objects.filter(user=user).values_list("channel", flat=True)) == ["email"]
    assert scripted["push"].calls == [] and scripted["sms"].calls == []


def test_template_key_without_text_is_sent_with_the_generic_text_and_logged(db, scripted, caplog, notify):
    user = _reachable_user(push_enabled=False, email_enabled=False)
    with caplog.at_level("WARNING", logger="dgt.notifications"):
        notify(user, key="b:1", template="listing_boosted", payload={})
    assert "listing_boosted" in caplog.text
    assert scripted["sms"].calls == [{"to": "+919812345678", "body": "dgt: you have a new notification."}]


def test_the_same_event_recorded_twice_is_recorded_and_sent_once(db, scripted, notify):
    user = _reachable_user()
    notify(user)
    outbox = EventOutbox.objects.count()
    assert notify(user) == []  # e.g. a job that runs again after a crash

    assert Notification.objects.filter(user=user).count() == 3
    assert [len(cls.calls) for cls in scripted.values()] == [1, 1, 1]
    assert EventOutbox.objects.count() == outbox  # no second notifications.new


def test_redelivered_send_task_sends_once(db, scripted, notify):
    user = _reachable_user(sms_enabled=False, email_enabled=False)
    notify(user)
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
def test_the_same_send_task_running_twice_at_once_sends_once(scripted, together):
    # Given a slow provider and two workers running the same send task at the same moment.
    user = UserFactory(email="c@example.com")
    notification = Notification.objects.create(user=user, template_key="listing_expired", channel="email",
                                               payload=PAYLOAD, dedupe_key="k2:email")
    scripted["email"].script = [lambda **kw: time.sleep(0.5) or "slow-ok"] * 2

    def worker():
        return notification_send(notification_id=notification.pk)

    results = together(worker, worker)

    assert sorted(results) == ["sending", "sent"]
    assert len(scripted["email"].calls) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 1)


def test_transient_error_is_retried_then_sent(monkeypatch, db, scripted, settings, notify):
    monkeypatch.setattr(notification_send_run, "max_retries", 3)
    user = _reachable_user(sms_enabled=False, push_enabled=False)
    scripted["email"].script = [TransientProviderError("503 from provider")]
    notify(user)
    notification = Notification.objects.get(user=user)
    assert len(scripted["email"].calls) == 2
    assert (notification.status, notification.attempts) == ("sent", 2)


def test_transient_errors_past_the_last_retry_mark_failed(monkeypatch, db, scripted, settings, notify):
    monkeypatch.setattr(notification_send_run, "max_retries", 2)
    user = _reachable_user(sms_enabled=False, push_enabled=False)
    scripted["email"].script = [TransientProviderError("timeout")] * 5
    notify(user)
    notification = Notification.objects.get(user=user)
    assert len(scripted["email"].calls) == 3  # first try + 2 retries
    assert (notification.status, notification.attempts) == ("failed", 3)
    assert notification.error.startswith("gave up after 3 attempts: timeout")


def test_invalid_push_tokens_deactivate_their_devices(db, scripted, notify):
    user = _reachable_user(sms_enabled=False, email_enabled=False)
    Device.objects.create(user=user, token="tok-b", platform="ios")
    scripted["push"].script = [PushResult(sent=["tok-b"], invalid={"tok-a": "UnregisteredError: gone"})]
    notify(user)

    assert scripted["push"].calls[0]["tokens"] == ["tok-a", "tok-b"]
    assert Notification.objects.get(user=user).status == "sent"  # reached tok-b
    assert dict(Device.objects.values_list("token", "active")) == {"tok-a": False, "tok-b": True}
    assert Device.objects.get(token="tok-a").deactivation_reason == "UnregisteredError: gone"


def test_push_with_every_token_invalid_fails_and_the_next_event_skips_push(db, scripted, notify):
    user = _reachable_user(sms_enabled=False, email_enabled=False)
    scripted["push"].script = [PushResult(invalid={"tok-a": "InvalidArgumentError: bad token"})]
    notify(user)
    notification = Notification.objects.get(user=user)
    assert notification.status == "failed" and "bad token" in notification.error
    assert Device.objects.get(token="tok-a").active is False

    notify(user, key="listing_expired:7")
    assert Notification.objects.filter(user=user).count() == 1  # no active device: no push row


def test_unsubscribed_number_fails_and_deactivates_the_phone(db, scripted, notify):
    user = _reachable_user(push_enabled=False, email_enabled=False)
    scripted["sms"].script = [PermanentProviderError("twilio 400 code 21610", recipient_invalid=True)]
    notify(user)
    assert Notification.objects.get(user=user).status == "failed"
    assert NotificationPreference.objects.get(user=user).phone_active is False
    assert len(scripted["sms"].calls) == 1  # permanent: not retried


def test_permanent_error_of_our_request_keeps_the_number(db, scripted, notify):
    user = _reachable_user(push_enabled=False, email_enabled=False)
    scripted["sms"].script = [PermanentProviderError("twilio 400 code 21602: body required")]
    notify(user)
    assert Notification.objects.get(user=user).status == "failed"
    assert NotificationPreference.objects.get(user=user).phone_active is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_event_recorded_by_two_transactions_at_once_is_recorded_and_sent_once(scripted, together):
    # Given one event that two transactions record at the same moment (e.g. two runs of a job).
    user = _reachable_user()

    def record():
        with transaction.atomic():
            return notification_record(user_id=user.pk, template_key="listing_expired", payload=PAYLOAD,
                                       dedupe_key="listing_expired:7")

    results = together(record, record)

    # The second INSERT waits for the first transaction and skips every row it committed.
    assert sorted(len(ids) for ids in results) == [0, 3], results
    assert sorted(Notification.objects.values_list("channel", "status")) == [
        ("email", "sent"), ("push", "sent"), ("sms", "sent")]
    assert [len(cls.calls) for cls in scripted.values()] == [1, 1, 1]


def test_recording_a_batch_costs_the_same_queries_for_3_or_30_events(db, scripted, django_assert_num_queries):
    users = [_reachable_user(token=f"tok-{i}") for i in range(2)]
    users += [UserFactory(email=f"u{i}@example.com") for i in range(2)]

    def batch(n, tag):
        return [NotificationRequest(users[i % 4].pk, "listing_expired", PAYLOAD, f"{tag}:{i}") for i in range(n)]

    # channels (users LEFT JOIN preferences + EXISTS device), INSERT … ON CONFLICT DO NOTHING
    # RETURNING, outbox INSERT, the send follow-ups' INSERT; no savepoint (the rows are recorded
    # in the caller's transaction).
    with django_assert_num_queries(4):
        assert len(notifications_record(requests=batch(3, "small"))) == 3 + 3 + 1
    with django_assert_num_queries(4):
        assert len(notifications_record(requests=batch(30, "large"))) == 8 * 3 + 8 * 3 + 7 + 7
