"""Text JSON allows but UTF-8 and PostgreSQL refuse (NUL, unpaired surrogates) and non-finite
numbers: a 400 `invalid_text` on every endpoint, in every websocket frame, in query strings and in
webhook bodies; never a 500, never stored (core.api.text)."""
from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from analytics.models import AnalyticsEvent
from audit.models import AuditLog
from listings.models import Listing
from wallet.models import Transaction, WebhookEvent

from ..listings.factories import ListingFactory
from ..realtime.communicator import ws_connect, ws_frames
from ..wallet.helpers import WEBHOOK_SECRET, post_webhook, sign

pytestmark = pytest.mark.django_db

# Raw JSON text: json.dumps would refuse nothing, but spelling it out shows what the client sends.
SURROGATE = '"a\\ud800b"'
NUL = '"a\\u0000b"'
BAD_TEXTS = {"surrogate": SURROGATE, "nul": NUL}


def _api_routes(resolver=None, prefix=""):
    """Every URL pattern under /api/ as (path with ids filled in)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/"):
            path = route.lstrip("^").rstrip("$")
            for conv in ("<int:", "<str:", "<slug:", "<uuid:", "<"):
                while conv in path:
                    start = path.index(conv)
                    path = path[:start] + "1" + path[path.index(">", start) + 1:]
            yield "/" + path


# Endpoints that answer before reading the body: the webhook checks its signature first; these
# act on a row the test does not create (the listing with id 1 exists).
SIGNATURE_FIRST = "/api/webhooks/razorpay"
NO_SUCH_ROW = {"/api/settings/banners/1", "/api/admin/outbox/1/retry"}


def _expected(method: str, path: str) -> tuple[int, str | None]:
    """(status, error code) of `method` on `path` with unstorable text in the body; the code is
    None where the answer is not JSON (the docs page, the YAML schema)."""
    match = resolve(path)
    view = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    if not hasattr(view, method.lower()):
        return 405, "method_not_allowed" if path not in ("/api/docs", "/api/schema") else None
    if path == SIGNATURE_FIRST:
        return 400, "invalid_signature"
    if path in NO_SUCH_ROW:
        return 404, "not_found"
    return 400, "invalid_text"


def _counts():
    return (Listing.objects.count(), Transaction.objects.count(), AnalyticsEvent.objects.count(),
            AuditLog.objects.count(), WebhookEvent.objects.count())


def test_every_api_endpoint_refuses_unstorable_text_in_the_body(api_for, admin_user, seller):
    ListingFactory(owner=seller, pk=1)
    # Claim and release read no body: they act on the listing whatever the body holds (and audit it).
    routes = sorted(r for r in set(_api_routes()) if not r.endswith(("/claim", "/release")))
    assert "/api/listings" in routes and "/api/analytics/events" in routes and len(routes) > 20
    client = api_for(admin_user)
    before = _counts()
    refused = set()
    for path in routes:
        for method in ("POST", "PATCH", "PUT"):
            for kind, text in BAD_TEXTS.items():
                # The bad text in a key and in every value a view is likely to read.
                body = ('{"title": %s, "reason": %s, "events": [{"name": "v", "ts": "2026-01-01T00:00:00Z", '
                        '"properties": {"k": %s}}], "username": %s, "password": %s, "refresh": %s, '
                        '"amount": "1.00", "userId": %d, "refId": %s, %s: 1}'
                        % (text, text, text, text, text, text, seller.pk, text, text))
                response = client.generic(method, path, body, content_type="application/json",
                                          HTTP_IDEMPOTENCY_KEY=f"k-{path}-{method}-{kind}")
                status, code = _expected(method, path)
                assert response.status_code == status, (method, path, kind, response.content[:300])
                if code is not None:
                    assert response.json()["error"]["code"] == code, (method, path, kind, response.json())
                if code == "invalid_text":
                    refused.add(path)
    assert _counts() == before
    # Every body-reading write endpoint refused it (a sample that must be in the set).
    assert {"/api/listings", "/api/analytics/events", "/api/wallet/refund", "/api/auth/token",
            "/api/listings/1/reject", "/api/admin/users/1/block", "/api/settings/banners"} <= refused


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_listing_with_unstorable_title_is_400_naming_the_field(api_for, seller, kind):
    body = '{"title": %s, "category": "misc", "price": "1"}' % BAD_TEXTS[kind]
    response = api_for(seller).generic("POST", "/api/listings", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_text"
    assert list(response.json()["error"]["fields"]) == ["title"]
    assert Listing.objects.count() == 0


def test_unstorable_key_and_overflowing_number_are_400(api_for, seller):
    for body in ('{"events": [{"name": "v", "ts": "2026-01-01T00:00:00Z", "properties": {"a\\ud800": 1}}]}',
                 '{"events": [{"name": "v", "ts": "2026-01-01T00:00:00Z", "properties": {"n": 1e400}}]}'):
        response = api_for(seller).generic("POST", "/api/analytics/events", body, content_type="application/json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_text"
    assert AnalyticsEvent.objects.count() == 0


def test_valid_surrogate_pairs_and_non_ascii_are_accepted(api_for, seller):
    body = '{"title": "Camera \\ud83d\\udcf7 caf\\u00e9", "category": "misc", "price": "1"}'
    response = api_for(seller).generic("POST", "/api/listings", body, content_type="application/json")
    assert response.status_code == 201
    assert Listing.objects.get().title == "Camera \U0001f4f7 café"


@pytest.mark.parametrize("query", ["q=can%00on", "q=canon&category=%00", "q%00=canon"])
def test_nul_in_a_query_string_is_400(api_for, seller, query):
    response = api_for(seller).get(f"/api/listings/search?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_text"


def test_nul_in_an_admin_search_is_400_not_a_database_error(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/listings/listing/?q=a%00b")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_text"


def test_signed_webhook_with_unstorable_text_is_400_and_stores_nothing(client, seller, settings):
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = ('{"entity": "event", "event": "payment.captured", "payload": {"payment": {"entity": '
            '{"id": "pay_1", "notes": {"x": "a\\u0000"}}}}}').encode()
    response = post_webhook(client, body, event_id="evt_nul", signature=sign(body))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_text"
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_websocket_frame_with_unstorable_text_gets_an_error_frame(seller, kind):
    async def run():
        async with ws_connect(seller) as (comm, ready):
            assert ready["type"] == "ready"
            for frame in ('{"type": "resume", "after": 0, "x": %s}' % BAD_TEXTS[kind],
                          '{"type": %s}' % BAD_TEXTS[kind]):
                await comm.send_to(text_data=frame)
                frames = await ws_frames(comm, quiet=0.3)
                assert frames == [{"type": "error", "code": "invalid_text", "message": frames[0]["message"]}]
            await comm.send_to(text_data=json.dumps({"type": "ping"}))  # the socket still works
            assert await ws_frames(comm, quiet=0.3) == [{"type": "pong"}]

    async_to_sync(run)()


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_websocket_auth_frame_with_unstorable_token_is_refused(kind):
    async def run():
        async with ws_connect() as (comm, _):
            await comm.send_to(text_data='{"type": "auth", "token": %s}' % BAD_TEXTS[kind])
            frames = await ws_frames(comm, quiet=0.3)
            assert frames[0]["code"] == "invalid_text"

    async_to_sync(run)()
