"""A send while PostgreSQL restarts (notifications.sending, docs/operations.md): nothing between the
claim and the provider's call touches the database, and the outcome of the provider's answer is
written again on a new connection, so a short restart leaves no row stuck in `sending`."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection

from notifications.models import Device, Notification, NotificationPreference, NotificationStatus
from notifications.providers import PushResult
from notifications.sending import notification_send

from ..accounts.factories import UserFactory


@pytest.fixture
def reachable():
    """A queued notification on `channel` for a user reachable on every channel."""
    def make(channel: str) -> Notification:
        user = UserFactory(email="asha@example.com")
        Device.objects.create(user=user, token="tok-a", platform="android")
        NotificationPreference.objects.create(user=user, phone="+919812345678")
        return Notification.objects.create(user=user, template_key="listing_expired", channel=channel,
                                           payload={"title": "Sofa"}, dedupe_key=f"k:{channel}")
    return make


@contextmanager
def database(state: dict):
    """Statements fail as on a terminated connection while `state["down"]` is true; the claim (the
    UPDATE to `sending`) takes the database down when `state["downAtClaim"]` is set."""
    def execute(run, sql, params, many, context):
        if state.get("down"):
            raise OperationalError("terminating connection due to administrator command")
        result = run(sql, params, many, context)
        if state.get("downAtClaim") and sql.startswith("UPDATE") and NotificationStatus.SENDING in (params or ()):
            state["down"] = True
        return result

    with connection.execute_wrapper(execute):
        yield


def back_up(state: dict, **changes):
    """A provider outcome that changes `state` (the database comes back, or goes down) and sends."""
    def send(**kwargs):
        state.update(changes)
        return PushResult(sent=list(kwargs["tokens"])) if "tokens" in kwargs else "ok"
    return send


@pytest.mark.django_db
@pytest.mark.parametrize("channel", ["push", "sms", "email"])
def test_nothing_between_the_claim_and_the_provider_call_touches_the_database(reachable, scripted, channel):
    # given the database goes down the moment the row is claimed and is back when the provider answers
    notification = reachable(channel)
    state = {"downAtClaim": True}
    scripted[channel].script = [back_up(state, down=False, downAtClaim=False)]

    with database(state):
        status = notification_send(notification_id=notification.pk)

    # then the send reached the provider (no read failed in between) and its outcome was written
    assert status == "sent" and len(scripted[channel].calls) == 1
    assert Notification.objects.get(pk=notification.pk).status == NotificationStatus.SENT


@pytest.mark.django_db(transaction=True)  # the write is retried on a new connection, outside any transaction
def test_the_providers_answer_is_written_after_the_database_restarts(reachable, scripted, monkeypatch):
    # given the database goes down as the provider answers, for two tries of the outcome's write
    waits: list[float] = []
    monkeypatch.setattr("core.tasks.time.sleep", lambda seconds: (waits.append(seconds),
                                                                   state.update(down=len(waits) < 2)))
    notification = reachable("email")
    state: dict = {}
    scripted["email"].script = [back_up(state, down=True)]

    with database(state):
        status = notification_send(notification_id=notification.pk)

    # then the outcome is written on the third try, and the message was sent once
    assert status == "sent" and len(scripted["email"].calls) == 1 and waits == [0.2, 0.4]
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.SENT, 1)
