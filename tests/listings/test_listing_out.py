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
