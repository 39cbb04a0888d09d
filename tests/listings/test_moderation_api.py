"""The moderation API of the admin app: queue, claim, release, reasons, decisions under claims."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditLog
from listings import claims, services
from listings.models import CannedReason, ListingStatus

from ..accounts.factories import UserFactory
from .factories import ListingFactory
from .helpers import claim_state, written

pytestmark = pytest.mark.django_db

QUEUE = "/api/moderation/queue"


@pytest.mark.parametrize("path,method", [(QUEUE, "get"), ("/api/moderation/reasons", "get"),
                                         ("/api/listings/{id}/claim", "post"), ("/api/listings/{id}/release", "post")])
@pytest.mark.parametrize("who,expected", [("anonymous", 401), ("seller", 403), ("buyer", 403), ("moderator", 200),
                                          ("admin_user", 200)])
def test_moderation_endpoints_are_for_moderators_and_admins(request, api, api_for, listing, path, method, who,
                                                           expected):
    client = api if who == "anonymous" else api_for(request.getfixturevalue(who))
    response = getattr(client, method)(path.format(id=listing.pk), format="json")
    assert response.status_code == expected, response.content
    if expected != 200:
        assert set(response.json()["error"]) == {"code", "message", "fields"}
        assert written() == (0, 0, 0)
        assert claim_state(listing.pk)[1:] == (None, None)


def test_queue_is_pending_oldest_first_with_age_and_claims(api_for, moderator, moderator2, make_pending, seller):
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        newest = make_pending(timedelta(minutes=1), title="newest")
        oldest = make_pending(timedelta(hours=3), title="oldest")
        middle = make_pending(timedelta(minutes=30), title="middle")
        ListingFactory(owner=seller, status=ListingStatus.APPROVED)
        claims.listing_claim(listing_id=middle.pk, actor=moderator2)

        body = api_for(moderator).get(QUEUE).json()

    assert body["count"] == 3
    assert [(r["id"], r["ageSeconds"]) for r in body["results"]] == [(oldest.pk, 3 * 3600), (middle.pk, 1800),
                                                                      (newest.pk, 60)]
    first, second = body["results"][:2]
    assert (first["claimedBy"], first["claimedUntil"]) == (None, None)
    assert second["claimedBy"] == {"id": moderator2.pk, "username": "moderator2"}
    assert second["claimedUntil"] == (now + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert first["owner"] == {"id": seller.pk, "username": "seller"}
    assert first["price"] == "1200.00" and first["title"] == "oldest"


def test_queue_hides_an_expired_claim(api_for, moderator, moderator2, listing):
    claims.listing_claim(listing_id=listing.pk, actor=moderator2)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        item = api_for(moderator).get(QUEUE).json()["results"][0]
    assert (item["claimedBy"], item["claimedUntil"]) == (None, None)


def test_queue_filters(api_for, moderator, make_pending, seller, buyer):
    cheap_phone = make_pending(category="electronics", price="500.00")
    dear_phone = make_pending(category="electronics", price="90000.00")
    car = make_pending(category="vehicles", price="300000.00", owner=buyer)
    veteran = UserFactory(role=Role.USER)
    veteran.date_joined = timezone.now() - timedelta(days=400)
    veteran.save()
    old_hand = make_pending(category="misc", price="10.00", owner=veteran)
    earlier = ListingFactory(owner=buyer)
    services.listing_reject(listing_id=earlier.pk, actor=moderator, reason="Spam")
    client = api_for(moderator)

    def ids(query):
        response = client.get(QUEUE, query)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids({"category": "electronics"}) == [cheap_phone.pk, dear_phone.pk]
    assert ids({"minPrice": "1000", "maxPrice": "100000.00"}) == [dear_phone.pk]
    assert ids({"newSellers": "true"}) == [cheap_phone.pk, dear_phone.pk, car.pk]
    assert ids({"earlierRejections": "true"}) == [car.pk]
    assert ids({}) == [cheap_phone.pk, dear_phone.pk, car.pk, old_hand.pk]


@pytest.mark.parametrize("query,field", [({"category": "boats"}, "category"), ({"minPrice": "abc"}, "minPrice"),
                                         ({"minPrice": "5", "maxPrice": "4"}, "maxPrice"),
                                         ({"newSellers": "maybe"}, "newSellers")])
def test_queue_refuses_bad_filters(api_for, moderator, listing, query, field):
    response = api_for(moderator).get(QUEUE, query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in response.json()["error"]["fields"]


def test_queue_is_paginated_with_bounded_queries(api_for, moderator, make_pending, django_assert_max_num_queries):
    for minutes in range(25):
        make_pending(timedelta(minutes=minutes))
    client = api_for(moderator)
    with django_assert_max_num_queries(6):
        body = client.get(QUEUE).json()
    assert (body["count"], len(body["results"]), body["previous"]) == (25, 20, None)
    assert len(client.get(QUEUE, {"page": 2}).json()["results"]) == 5


def test_claim_and_release_over_the_api(api_for, moderator, moderator2, listing):
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        response = api_for(moderator).post(f"/api/listings/{listing.pk}/claim")
    assert response.status_code == 200
    assert response.json() == {"listingId": listing.pk, "claimedBy": {"id": moderator.pk, "username": "moderator"},
                               "claimedUntil": (now + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")}

    before, state = written(), claim_state(listing.pk)
    refused = api_for(moderator2).post(f"/api/listings/{listing.pk}/claim")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "listing_claimed"
    refused = api_for(moderator2).post(f"/api/listings/{listing.pk}/release")
    assert refused.status_code == 409
    assert (written(), claim_state(listing.pk)) == (before, state)

    released = api_for(moderator).post(f"/api/listings/{listing.pk}/release")
    assert released.json() == {"listingId": listing.pk, "claimedBy": None, "claimedUntil": None}
    assert api_for(moderator2).post(f"/api/listings/{listing.pk}/claim").status_code == 200


def test_claim_of_missing_or_decided_listing(api_for, moderator, listing):
    assert api_for(moderator).post("/api/listings/999999/claim").status_code == 404
    services.listing_approve(listing_id=listing.pk, actor=moderator, reason="", expiry_days=30)
    before = written()
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/claim")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "invalid_transition")
    assert written() == before


@pytest.mark.parametrize("action,body", [("approve", {"expiryDays": 7}), ("reject", {"reason": "Spam"})])
def test_api_decisions_under_anothers_claim_are_409_and_write_nothing(api_for, moderator, moderator2, listing, action,
                                                                      body):
    api_for(moderator).post(f"/api/listings/{listing.pk}/claim")
    before, state = written(), claim_state(listing.pk)

    response = api_for(moderator2).post(f"/api/listings/{listing.pk}/{action}", body, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "listing_claimed"
    assert (written(), claim_state(listing.pk)) == (before, state)
    # the holder decides as before
    assert api_for(moderator).post(f"/api/listings/{listing.pk}/{action}", body, format="json").status_code == 200
    assert claim_state(listing.pk)[1:] == (None, None)


def test_reasons_lists_active_canned_reasons_in_order(api_for, moderator):
    b = CannedReason.objects.create(code="b", title="B", text="Reason B", position=2)
    a = CannedReason.objects.create(code="a", title="A", text="Reason A", position=1)
    CannedReason.objects.create(code="gone", title="Gone", text="Old", position=0, active=False)
    body = api_for(moderator).get("/api/moderation/reasons").json()
    assert body["count"] == 2
    assert body["results"] == [{"id": a.pk, "code": "a", "title": "A", "text": "Reason A"},
                               {"id": b.pk, "code": "b", "title": "B", "text": "Reason B"}]


def test_reject_over_the_api_with_reason_id(api_for, moderator, listing, canned):
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/reject", {"reasonId": canned.pk}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == ("rejected", "Please add clear photos.")
    assert AuditLog.objects.get().metadata == {"reasonId": canned.pk, "reasonCode": "poor-photos"}


@pytest.mark.parametrize("body,field", [({}, "reason"), ({"reason": "  "}, "reason"), ({"reasonId": 0}, "reasonId"),
                                        ({"reasonId": 424242}, "reasonId"), ({"reasonId": "x"}, "reasonId")])
def test_reject_without_a_usable_reason_is_400(api_for, moderator, listing, canned, body, field):
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/reject", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert written() == (0, 0, 0)
    assert claim_state(listing.pk)[0] == ListingStatus.PENDING
