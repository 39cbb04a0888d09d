"""Fixtures of the notification tests: scripted providers, the sweeper as its job runs it
(docs/notifications.md)."""
from __future__ import annotations

import pytest

from notifications.providers import PushResult, _provider, get_provider
from notifications.sweeping import notifications_sweep
from notifications.tasks import notification_send_run


class ScriptedProvider:
    """A provider double for the delivery tests: records each call and plays `script` (a list
    of outcomes: an exception instance to raise, a callable(**kwargs) to call, or a value to
    return); when the script is empty it succeeds."""

    calls: list = []
    script: list = []

    def __init__(self):
        type(self).calls = []
        type(self).script = []

    def send(self, **kwargs):
        type(self).calls.append(kwargs)
        outcome = type(self).script.pop(0) if type(self).script else None
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return outcome(**kwargs)
        if outcome is not None:
            return outcome
        if "tokens" in kwargs:
            return PushResult(sent=list(kwargs["tokens"]))
        return "ok"


class ScriptedPush(ScriptedProvider):
    calls, script = [], []


class ScriptedSms(ScriptedProvider):
    calls, script = [], []


class ScriptedEmail(ScriptedProvider):
    calls, script = [], []


@pytest.fixture
def scripted(settings):
    """Scripted push/SMS/email providers (fresh per test); returns {"push": cls, ...}."""
    settings.NOTIFICATION_PROVIDERS = {channel: f"{__name__}.{cls.__name__}" for channel, cls in
                                       (("push", ScriptedPush), ("sms", ScriptedSms), ("email", ScriptedEmail))}
    settings.NOTIFICATION_RATE_LIMIT_PER_SECOND = 10_000
    _provider.cache_clear()
    for channel in ("push", "sms", "email"):
        get_provider(channel)  # instantiating resets the class-level calls and script
    return {"push": ScriptedPush, "sms": ScriptedSms, "email": ScriptedEmail}


@pytest.fixture
def sweep():
    """sweep(now=None): one run of the sweeper as the `notifications_sweep` job runs it (sends
    through the send task, inline); returns {"requeued", "staleSending"}."""
    def run(now=None) -> dict:
        return notifications_sweep(send=notification_send_run, now=now)

    return run
