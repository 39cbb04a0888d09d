"""Helpers for the expiry and notification tests (docs/notifications.md)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from listings.models import Listing, ListingStatus
from notifications.providers import get_provider

from .factories import ListingFactory

IST = ZoneInfo("Asia/Kolkata")


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def approved_listing(*, owner, expires_at: datetime, **kwargs) -> Listing:
    return ListingFactory(owner=owner, status=ListingStatus.APPROVED, approved_at=expires_at - timedelta(days=30),
                          expires_at=expires_at, **kwargs)


@pytest.fixture
def console_providers(settings):
    """The console push/SMS providers (fresh per test) and a high rate limit for speed."""
    settings.NOTIFICATION_PROVIDERS = {
        "push": "notifications.providers.console.ConsolePushProvider",
        "sms": "notifications.providers.console.ConsoleSmsProvider",
        "email": "notifications.providers.email.DjangoEmailProvider",
    }
    settings.NOTIFICATION_RATE_LIMIT_PER_SECOND = 10_000
    push, sms = get_provider("push"), get_provider("sms")
    push.sent.clear()
    sms.sent.clear()
    return {"push": push, "sms": sms}


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
            from notifications.providers import PushResult

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
    settings.NOTIFICATION_PROVIDERS = {
        "push": "tests.notifications_fixtures.ScriptedPush",
        "sms": "tests.notifications_fixtures.ScriptedSms",
        "email": "tests.notifications_fixtures.ScriptedEmail",
    }
    settings.NOTIFICATION_RATE_LIMIT_PER_SECOND = 10_000
    from notifications.providers import _provider

    _provider.cache_clear()
    for channel in ("push", "sms", "email"):
        get_provider(channel)  # instantiating resets the class-level calls and script
    return {"push": ScriptedPush, "sms": ScriptedSms, "email": ScriptedEmail}
