"""Sessions, the session's user and messages run for browser pages only (core.browser).

The API under /api/ passes through them (bearer JWT; docs/benchmarks.md, "Per-request overhead");
Django admin and /metrics keep them all. CSRF is Django's own middleware on every path.
"""
from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from accounts.tokens import access_token_for


def _request_of(response):
    return response.wsgi_request


@pytest.mark.django_db
def test_api_requests_skip_session_auth_and_messages(seller):
    client = Client(enforce_csrf_checks=True)
    response = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {access_token_for(seller)}")
    assert response.status_code == 200
    request = _request_of(response)
    assert not hasattr(request, "session") and not hasattr(request, "_messages")
    assert request.user == seller  # set by the API's JWT authentication, not the session
    assert "Cookie" not in response.get("Vary", "") and not response.cookies
    # The headers of the middlewares that still run on the API are all there.
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_an_api_write_needs_no_csrf_token_and_a_session_cookie_authenticates_nothing(admin_user, seller):
    """A signed-in admin's session cookie is not an API credential (CSRF is moot on /api/)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.get("/api/me").status_code == 401
    response = client.post("/api/listings", {"title": "Bike", "description": "ok", "category": "misc",
                                             "price": "10.00"}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {access_token_for(seller)}")
    assert response.status_code == 201
    assert not hasattr(_request_of(response), "session")


@pytest.mark.django_db
def test_admin_keeps_sessions_csrf_and_messages(admin_user):
    client = Client(enforce_csrf_checks=True)
    login_page = client.get("/admin/login/")
    assert login_page.status_code == 200 and settings.CSRF_COOKIE_NAME in login_page.cookies
    # Without the token the login is refused; with it the session signs the admin in.
    assert client.post("/admin/login/", {"username": "admin", "password": "demo-pass-123"}).status_code == 403
    admin_user.set_password("demo-pass-123")
    admin_user.save()
    token = login_page.cookies[settings.CSRF_COOKIE_NAME].value
    signed_in = client.post("/admin/login/?next=/admin/", {"username": admin_user.username,
                                                           "password": "demo-pass-123",
                                                           "csrfmiddlewaretoken": token})
    assert signed_in.status_code == 302 and settings.SESSION_COOKIE_NAME in signed_in.cookies
    index = client.get("/admin/")
    assert index.status_code == 200
    request = _request_of(index)
    assert request.user == admin_user and hasattr(request, "session") and hasattr(request, "_messages")
    # A state-changing admin POST without the token is still refused.
    assert client.post("/admin/logout/").status_code == 403


@pytest.mark.django_db
def test_metrics_keeps_the_admin_session(client, admin_user, settings):
    settings.METRICS_ALLOWED_IPS = []
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 200


def test_api_prefix_is_matched_on_the_routed_path():
    from django.test import RequestFactory

    from core.browser import is_api

    factory = RequestFactory()
    assert is_api(factory.get("/api/wallet"))
    assert not is_api(factory.get("/admin/"))
    assert not is_api(factory.get("/apix/"))
    assert not is_api(factory.get("/metrics"))
