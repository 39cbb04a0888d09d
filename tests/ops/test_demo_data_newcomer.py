"""What a newcomer meets first: the demo data's approved listings are searchable at once (no
`search_rebuild` needed), and its banner image is one of dgt's own static files (works offline)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

from banners.models import Banner
from listings.models import Listing, ListingStatus, SearchDocument

pytestmark = pytest.mark.django_db

def test_demo_approved_listings_are_in_the_search_index(api_for, buyer):
    call_command("demo_data", "--quiet")
    response = api_for(buyer).get("/api/listings/search?q=canon")
    assert response.status_code == 200
    assert [r["title"] for r in response.json()["results"]] == ["Canon EOS 1500D camera"]
    assert SearchDocument.objects.count() == 2  # the two approved listings not yet expired
    assert not SearchDocument.objects.filter(listing__status=ListingStatus.PENDING).exists()


def test_demo_banner_image_is_a_local_static_file(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    call_command("demo_data", "--quiet")
    url = urlsplit(Banner.objects.get().image_url)
    assert (url.scheme, url.netloc) == ("http", "127.0.0.1:8123")
    assert url.path.startswith("/static/")
    assert finders.find(url.path.removeprefix("/static/")) is not None
