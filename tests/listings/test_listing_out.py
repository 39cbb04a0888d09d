"""`listing_out` (the hot paths' renderer) gives exactly `ListingSerializer(...).data`."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.utils import timezone

from listings.serializers import ListingSerializer, listing_out
from tests.listings.factories import ListingFactory


@pytest.mark.django_db
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_listing_out_matches_the_serializer(seller, tz):
    now = datetime(2026, 12, 1, 10, 30, 15, 123456, tzinfo=dt_timezone.utc)
    listings = [
        ListingFactory(owner=seller, price=Decimal("1200.00")),
        ListingFactory(owner=seller, price=Decimal("0.5"), status="approved", reason="ok", approved_at=now,
                       expires_at=now + timedelta(days=30), reminder_sent_3d=True, title="Café ✓ \u2028"),
        ListingFactory(owner=seller, price=Decimal("9999999999.99"), status="expired", approved_at=now,
                       expires_at=now, expired_at=now.replace(microsecond=0)),
    ]
    with timezone.override(tz):
        for listing in listings:
            listing.refresh_from_db()
            assert listing_out(listing) == dict(ListingSerializer(listing).data)


@pytest.mark.django_db
def test_the_listings_page_and_the_approval_render_as_before(seller, moderator, api_for):
    listing = ListingFactory(owner=seller)
    page = api_for(seller).get("/api/listings").json()
    listing.refresh_from_db()
    with timezone.override("UTC"):  # the API renders in UTC (core.api.timezone)
        assert page["results"] == [dict(ListingSerializer(listing).data)]
        approved = api_for(moderator).post(f"/api/listings/{listing.pk}/approve", {}, format="json").json()
        listing.refresh_from_db()
        assert approved == dict(ListingSerializer(listing).data)


@pytest.mark.django_db
def test_the_listings_pages_are_those_of_the_owners_queryset(seller, buyer, api_for):
    """GET /api/listings reads compiled rows (listings.selectors.OwnerListingRows): same pages,
    count, links and errors as paginating `listing_list_for_owner` with the model serializer."""
    from listings.selectors import listing_list_for_owner

    for i in range(5):
        ListingFactory(owner=seller, title=f"mine {i}")
    ListingFactory(owner=buyer)
    client = api_for(seller)
    with timezone.override("UTC"):  # the API renders in UTC (core.api.timezone)
        expected = [dict(ListingSerializer(listing).data) for listing in listing_list_for_owner(owner=seller)]
    first = client.get("/api/listings?pageSize=2").json()
    assert first["count"] == 5 and first["previous"] is None
    assert first["next"].endswith("/api/listings?page=2&pageSize=2")
    assert first["results"] == expected[:2]
    last = client.get("/api/listings?pageSize=2&page=last").json()
    assert last["results"] == expected[4:] and last["next"] is None
    assert client.get("/api/listings?page=2&pageSize=2").json()["results"] == expected[2:4]
    beyond = client.get("/api/listings?page=4&pageSize=2")
    assert beyond.status_code == 404 and beyond.json()["error"]["code"] == "not_found"
    assert client.get("/api/listings?page=abc").status_code == 404
    assert client.get("/api/listings?page=0").status_code == 404
    assert api_for(buyer).get("/api/listings?page=1").json()["count"] == 1  # only their own
    from accounts.models import User

    fresh = User.objects.create(username="fresh", password="!")
    assert api_for(fresh).get("/api/listings").json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert api_for(fresh).get("/api/listings?page=2").status_code == 404
