"""Rate limits on the money and ingestion endpoints: refund (per admin), payouts (per user),
analytics (per client IP). Over the limit: 429 in the error shape, and nothing written."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from analytics.models import AnalyticsEvent
from wallet.models import Payout, Transaction

from .helpers import payable

pytestmark = pytest.mark.django_db


def _refund(client, user, ref):
    return client.post("/api/wallet/refund", {"userId": user.pk, "amount": "1.00", "reason": "r", "refId": ref},
                       format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def test_refund_limit_per_admin(ratelimits, api_for, admin_user, seller):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "wallet_refund": "2/d"}
    client = api_for(admin_user)
    codes = [_refund(client, seller, f"goodwill-{i}").status_code for i in range(3)]
    assert codes == [201, 201, 429]
    limited = _refund(client, seller, "goodwill-x")
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited["Retry-After"]) >= 1
    assert Transaction.objects.filter(kind="refund").count() == 2


def test_payout_limit_per_user(ratelimits, api_for, admin_user, seller):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "wallet_payout": "1/d"}
    assert _refund(api_for(admin_user), seller, "goodwill-funds").status_code == 201
    payable(seller)
    client = api_for(seller)
    post = lambda: client.post("/api/wallet/payouts", {"amount": "0.10"}, format="json",  # noqa: E731
                               HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert [post().status_code, post().status_code] == [201, 429]
    assert Payout.objects.count() == 1
    assert Payout.objects.get().amount == Decimal("0.10")


def test_analytics_limit_per_ip(ratelimits, api_for, seller, django_capture_on_commit_callbacks):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "analytics_ingest": "1/d"}
    client = api_for(seller)
    body = {"events": [{"name": "page_view", "ts": "2026-11-29T10:00:00Z", "properties": {}}]}
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/analytics/events", body, format="json")
        second = client.post("/api/analytics/events", body, format="json")
    assert (first.status_code, second.status_code) == (202, 429)
    assert AnalyticsEvent.objects.count() == 1
