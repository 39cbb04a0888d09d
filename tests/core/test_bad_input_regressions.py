"""Regressions found by adversarial testing: each bad input is a clear 4xx, never a 500, and
writes nothing."""
from __future__ import annotations

import uuid

import jwt
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from listings.models import Listing
from realtime.origin import origin_allowed
from wallet.models import Transaction, Wallet

from ..realtime.communicator import ws_connect, ws_frames, ws_open

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000


def test_listing_without_description_is_created(api_for, seller):
    response = api_for(seller).post("/api/listings", {"title": "t", "category": "misc", "price": "1"}, format="json")
    assert response.status_code == 201
    assert Listing.objects.get(pk=response.json()["id"]).description == ""


@pytest.mark.parametrize("path", ["/api/auth/token", "/api/listings", "/api/wallet/refund"])
def test_deeply_nested_json_is_400(api_for, admin_user, path):
    response = api_for(admin_user).generic("POST", path, DEEP, content_type="application/json",
                                           HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert Listing.objects.count() == 0 and Transaction.objects.count() == 0


@pytest.mark.parametrize("body,field", [
    ({"userId": 99999999999999999999, "amount": "1.00"}, "userId"),
    ({"amount": "1_000"}, "amount"), ({"amount": "1e2"}, "amount"), ({"amount": " 5 "}, "amount"),
    ({"amount": "+5"}, "amount"), ({"amount": "\u0665"}, "amount"), ({"amount": "\uff15"}, "amount"),
    ({"amount": "5."}, "amount"),
])
def test_refund_rejects_odd_numbers_and_ids(api_for, admin_user, seller, body, field):
    data = {"userId": seller.pk, "amount": "1.00", "reason": "r", "refId": "x", **body}
    response = api_for(admin_user).post("/api/wallet/refund", data, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert Transaction.objects.count() == 0


def test_credit_beyond_the_balance_column_is_422_not_500(api_for, admin_user, seller, settings):
    settings.REFUND_GOODWILL_MAX = __import__("decimal").Decimal("999999999999.99")
    Wallet.objects.update_or_create(pk=seller.pk, defaults={"balance": "999999999999.00"})
    response = api_for(admin_user).post("/api/wallet/refund", {"userId": seller.pk, "amount": "5.00", "reason": "r",
                                                               "refId": "big"}, format="json",
                                        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "balance_limit_exceeded"
    assert str(Wallet.objects.get(pk=seller.pk).balance) == "999999999999.00"
    assert Transaction.objects.count() == 0


def test_token_with_absurd_exp_is_401(api, seller):
    token = jwt.encode({"sub": str(seller.pk), "exp": 10**30}, settings.JWT_SECRET, algorithm="HS256")
    response = api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_deeply_nested_websocket_frame_is_a_bad_frame_error(seller):
    async def scenario():
        async with ws_connect(seller) as (comm, _):
            await comm.send_to(text_data=DEEP)
            frames = await ws_frames(comm, quiet=1)
        return frames

    assert [f.get("code") for f in async_to_sync(scenario)()] == ["bad_frame"]


@pytest.mark.parametrize("origin,host,allowed", [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("http://127.0.0.1:9999", "127.0.0.1:8000", False),
    ("https://localhost", "localhost:443", True),
    ("https://evil.example", "127.0.0.1:8000", False),
    ("null", "127.0.0.1:8000", False),
])
def test_origin_must_match_host_and_port(origin, host, allowed):
    assert origin_allowed(origin, host) is allowed


@pytest.mark.django_db(transaction=True)
def test_other_port_on_an_allowed_host_is_refused_before_accept(seller):
    async def scenario():
        async with ws_open(headers=[(b"origin", b"http://127.0.0.1:9999"), (b"host", b"127.0.0.1:8000")]) as (_, ok):
            return ok

    assert async_to_sync(scenario)() is False


def test_analytics_item_with_a_nul_character_is_400_naming_it(api_for, seller, django_capture_on_commit_callbacks):
    from analytics.models import AnalyticsEvent

    good = {"name": "view", "ts": "2026-11-29T10:00:00Z", "properties": {}}
    bad = {"name": "view", "ts": "2026-11-29T10:00:00Z", "properties": {"k": "a\u0000"}}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(seller).post("/api/analytics/events", {"events": [good, bad]}, format="json")
    assert response.status_code == 400
    assert "events.1.properties.k" in response.json()["error"]["fields"]
    assert AnalyticsEvent.objects.count() == 0
