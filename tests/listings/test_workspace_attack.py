"""The moderation workspace under hostile input: malformed filters and ids are ignored (never a
500) and the release form's `next` cannot send a moderator off-site (docs/moderation.md)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from listings import claims

from .helpers import claim_state, written

pytestmark = pytest.mark.django_db

BASE = "/admin/listings/moderationqueue/"


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("query", ["min_price=NaN", "min_price=sNaN", "max_price=Infinity", "max_price=-Infinity",
                                   "min_price=1e400", "min_price=0.001", "partial=1&min_price=NaN"])
def test_malformed_price_filters_are_ignored(moderator, make_pending, query):
    make_pending(timedelta(hours=1), title="Old lamp")
    response = _browser(moderator).get(f"{BASE}?{query}")
    assert response.status_code == 200
    assert "Old lamp" in response.content.decode()


@pytest.mark.parametrize("skip", ["²", "1²", "9" * 30, str(2**63)])
def test_next_ignores_a_skip_that_is_not_a_listing_id(moderator, make_pending, skip):
    listing = make_pending(timedelta(hours=1))
    audit_before = written()[0]
    response = _browser(moderator).post(f"{BASE}next/", {"skip": skip})
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}{listing.pk}/"
    assert claim_state(listing.pk)[1] == moderator.pk
    assert written()[0] == audit_before + 1  # the claim of the next listing, nothing for the bad skip


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_release_never_redirects_off_site(moderator, make_pending, target):
    listing = make_pending(timedelta(hours=1))
    claims.listing_claim(listing_id=listing.pk, actor=moderator)
    response = _browser(moderator).post(f"{BASE}{listing.pk}/release/", {"next": target})
    assert response.status_code == 302 and response["Location"] == BASE
    assert claim_state(listing.pk)[1] is None


def test_release_follows_a_next_on_this_site(moderator, make_pending):
    listing = make_pending(timedelta(hours=1))
    claims.listing_claim(listing_id=listing.pk, actor=moderator)
    response = _browser(moderator).post(f"{BASE}{listing.pk}/release/", {"next": f"{BASE}{listing.pk}/"})
    assert response["Location"] == f"{BASE}{listing.pk}/"
