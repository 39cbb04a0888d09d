"""A dependency that is down answers 503 + Retry-After in the error shape, never 500; rate limits
follow their per-endpoint policy when the cache is unreachable (docs/operations.md)."""
from __future__ import annotations

import pytest
from django.db import OperationalError

from ..wallet.helpers import counts, post_refund, refund_body

DEAD_REDIS = "redis://127.0.0.1:19839/0"  # nothing listens there (this suite's private range)

pytestmark = pytest.mark.usefixtures("closed_breakers")


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache",
                                   "LOCATION": DEAD_REDIS,
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    settings.RATELIMIT_ENABLE = True


@pytest.mark.django_db
def test_database_down_answers_503_with_retry_after_in_the_error_shape(api_for, seller, monkeypatch):
    def gone(**kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    client = api_for(seller)
    # The first query of the request (authentication reads the user) finds the database gone.
    monkeypatch.setattr("rest_framework.views.APIView.initial", lambda self, request, *a, **kw: gone())

    response = client.get("/api/wallet")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"


@pytest.mark.django_db
def test_database_down_outside_drf_is_503_too(client, monkeypatch):
    from django.db import InterfaceError

    def gone(*args, **kwargs):
        raise InterfaceError("connection already closed")

    monkeypatch.setattr("django.contrib.auth.views.LoginView.get", gone)
    client.raise_request_exception = False

    response = client.get("/admin/login/")

    assert response.status_code == 503
    assert response.json()["error"] == {"code": "service_unavailable",
                                         "message": "A service is unavailable; retry in 5 seconds.", "fields": {}}


@pytest.mark.django_db
class _MidMinute:
    """The rate limiter's clock pinned mid-minute: its per-process fallback counts in fixed
    windows, and four requests across a minute's edge started a new count (docs/testing.md)."""

    @staticmethod
    def time() -> float:
        return 30_000_000 * 60 + 30.0


def test_login_with_the_cache_down_counts_per_process(api, make_user, cache_down, settings, monkeypatch):
    from core.api import ratelimit as ratelimit_module

    monkeypatch.setattr(ratelimit_module, "time", _MidMinute)
    settings.RATELIMIT_RATES = {**settings.RATELIMIT_RATES, "token_username": "3/m"}
    make_user(username="kiran", password="right-pass-123")
    body = {"username": "kiran", "password": "right-pass-123"}

    statuses = [api.post("/api/auth/token", body, format="json").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]  # fail-soft: still limited, in this process


@pytest.mark.django_db
def test_refund_with_the_cache_down_is_refused_503_and_writes_nothing(api_for, admin_user, seller, cache_down):
    before = counts()

    response = post_refund(api_for(admin_user), refund_body(seller))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert counts() == before


@pytest.mark.django_db
def test_public_banner_feed_works_with_the_cache_down(api, cache_down):
    response = api.get("/api/banners?placement=home")
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_analytics_batch_with_the_broker_down_is_503_and_nothing_is_stored(api_for, buyer, monkeypatch):
    from kombu.exceptions import OperationalError as BrokerError

    from analytics.models import AnalyticsEvent

    def refused(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("analytics.services.events_ingest.apply_async", refused)
    body = {"events": [{"name": "search", "ts": "2026-11-29T10:00:00+05:30"}]}

    response = api_for(buyer).post("/api/analytics/events", body, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert AnalyticsEvent.objects.count() == 0
