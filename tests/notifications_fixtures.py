"""Helpers for the expiry and notification tests (issue 6)."""
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
