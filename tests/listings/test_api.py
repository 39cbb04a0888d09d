"""Listings API: owner CRUD, moderation authorization matrix, bad input and state conflicts."""
from __future__ import annotations

import pytest

from accounts.models import Role
from audit.models import AuditLog
from listings.models import Listing, ListingStatus
from notifications.models import Notification
from outbox.models import EventOutbox

from .factories import ListingFactory


def _nothing_written():
    return (AuditLog.objects.count(), EventOutbox.objects.count(), Notification.objects.count())


NEW = {"title": "Sofa", "description": "Three seater", "category": "furniture", "price": "7500.00"}


@pytest.mark.django_db
def test_owner_creates_a_pending_listing_and_cannot_set_status(api_for, seller):
    response = api_for(seller).post("/api/listings", {**NEW, "status": "approved", "expiresAt": "2030-01-01T00:00:00Z"},
                                    format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert body["expiresAt"] is None
    assert body["price"] == "7500.00"
    assert body["ownerId"] == seller.pk
    assert Listing.objects.get(pk=body["id"]).status == ListingStatus.PENDING


@pytest.mark.django_db
def test_owner_lists_reads_edits_and_deletes_own(api_for, seller, buyer):
    mine = ListingFactory(owner=seller)
    ListingFactory(owner=buyer)
    client = api_for(seller)
    listed = client.get("/api/listings").json()
    assert listed["count"] == 1 and [r["id"] for r in listed["results"]] == [mine.pk]
    assert client.get(f"/api/listings/{mine.pk}").json()["title"] == mine.title
    patched = client.patch(f"/api/listings/{mine.pk}", {"title": "New title", "status": "approved"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["title"] == "New title" and patched.json()["status"] == "pending"
    assert client.delete(f"/api/listings/{mine.pk}").status_code == 204
    assert not Listing.objects.filter(pk=mine.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_users_listing_is_404_and_untouched(api_for, seller, buyer, method):
    theirs = ListingFactory(owner=buyer, title="Theirs")
    response = getattr(api_for(seller), method)(f"/api/listings/{theirs.pk}", {"title": "Mine now"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Listing.objects.get(pk=theirs.pk).title == "Theirs"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,field",
    [
        ({**NEW, "category": "weapons"}, "category"),
        ({**NEW, "price": "-1"}, "price"),
        ({**NEW, "price": "12.345"}, "price"),
        ({**NEW, "price": "NaN"}, "price"),
        ({**NEW, "price": True}, "price"),
        ({**NEW, "title": ""}, "title"),
        ({k: v for k, v in NEW.items() if k != "title"}, "title"),
    ],
)
def test_bad_listing_input_is_400_and_writes_nothing(api_for, seller, body, field):
    response = api_for(seller).post("/api/listings", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert Listing.objects.count() == 0


# --- moderation authorization matrix ----------------------------------------------------------

ROLES = {"anonymous": None, "owner": "seller", "other_user": "buyer", "moderator": "moderator", "admin": "admin_user"}


@pytest.mark.django_db
@pytest.mark.parametrize("action,body", [("approve", {"expiryDays": 7}), ("reject", {"reason": "Spam"})])
@pytest.mark.parametrize(
    "who,expected",
    [("anonymous", 401), ("owner", 403), ("other_user", 403), ("moderator", 200), ("admin", 200)],
)
def test_moderation_matrix(request, api, api_for, listing, action, body, who, expected):
    fixture = ROLES[who]
    client = api_for(request.getfixturevalue(fixture)) if fixture else api
    if fixture is None:
        request.getfixturevalue("moderator")  # the world has staff, the caller just isn't one
    response = client.post(f"/api/listings/{listing.pk}/{action}", body, format="json")
    assert response.status_code == expected, response.content
    listing.refresh_from_db()
    if expected == 200:
        assert listing.status == {"approve": "approved", "reject": "rejected"}[action]
        assert AuditLog.objects.count() == 1
    else:
        assert listing.status == ListingStatus.PENDING
        assert set(response.json()["error"]) == {"code", "message", "fields"}
        assert _nothing_written() == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_listing_endpoints_need_authentication(api, method):
    response = getattr(api, method)("/api/listings", NEW, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert Listing.objects.count() == 0


@pytest.mark.django_db
def test_moderator_cannot_moderate_own_listing(api_for, moderator):
    own = ListingFactory(owner=moderator)
    response = api_for(moderator).post(f"/api/listings/{own.pk}/approve", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "own_listing"
    assert Listing.objects.get(pk=own.pk).status == ListingStatus.PENDING
    assert _nothing_written() == (0, 0, 0)


# --- bad input and conflicts --------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(
    "action,body,field",
    [
        ("approve", {"expiryDays": 0}, "expiryDays"),
        ("approve", {"expiryDays": 366}, "expiryDays"),
        ("approve", {"expiryDays": "abc"}, "expiryDays"),
        ("approve", {"expiryDays": 1.5}, "expiryDays"),
        ("reject", {}, "reason"),
        ("reject", {"reason": ""}, "reason"),
    ],
)
def test_bad_moderation_input_is_400_and_writes_nothing(api_for, moderator, listing, action, body, field):
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/{action}", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    listing.refresh_from_db()
    assert listing.status == ListingStatus.PENDING and listing.expires_at is None
    assert _nothing_written() == (0, 0, 0)


@pytest.mark.django_db
def test_approve_defaults_to_30_days(api_for, moderator, listing):
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/approve", {}, format="json")
    assert response.status_code == 200
    listing.refresh_from_db()
    assert (listing.expires_at - listing.approved_at).days == 30


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["approve", "reject"])
def test_unknown_listing_is_404(api_for, moderator, action):
    response = api_for(moderator).post(f"/api/listings/987654/{action}", {"reason": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _nothing_written() == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status,action",
    [(ListingStatus.REJECTED, "approve"), (ListingStatus.EXPIRED, "approve"), (ListingStatus.APPROVED, "reject"),
     (ListingStatus.APPROVED, "approve"), (ListingStatus.REJECTED, "reject")],
)
def test_invalid_transitions_are_409_and_change_nothing(api_for, moderator, seller, status, action):
    listing = ListingFactory(owner=seller, status=status, reason="before")
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/{action}", {"reason": "after"}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition" and status in error["message"]
    listing.refresh_from_db()
    assert (listing.status, listing.reason) == (status, "before")
    assert _nothing_written() == (0, 0, 0)


@pytest.mark.django_db
def test_admin_bulk_actions_use_the_services(client, admin_user, seller):
    a, b = ListingFactory(owner=seller), ListingFactory(owner=seller, status=ListingStatus.REJECTED)
    client.force_login(admin_user)
    response = client.post("/admin/listings/listing/", {"action": "approve_selected", "_selected_action": [a.pk, b.pk],
                                                       "apply": "1", "reason": "ok", "expiry_days": 5})
    assert response.status_code == 302
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (ListingStatus.APPROVED, ListingStatus.REJECTED)
    assert list(AuditLog.objects.values_list("action", "entity_id")) == [("listing.approve", str(a.pk))]
    form = client.post("/admin/listings/listing/", {"action": "reject_selected", "_selected_action": [a.pk]})
    assert form.status_code == 200 and b"reason" in form.content


@pytest.mark.django_db
def test_moderator_sees_listings_in_admin(client, moderator, listing):
    client.force_login(moderator)
    assert client.get("/admin/listings/listing/").status_code == 200
    assert Role.MODERATOR == moderator.role


@pytest.mark.django_db
@pytest.mark.parametrize("status", [ListingStatus.APPROVED, ListingStatus.REJECTED, ListingStatus.EXPIRED])
def test_editing_a_moderated_listing_sends_it_back_to_moderation(api_for, seller, status):
    from django.utils import timezone

    listing = ListingFactory(owner=seller, status=status, reason="was fine", approved_at=timezone.now(),
                             expires_at=timezone.now())
    response = api_for(seller).patch(f"/api/listings/{listing.pk}", {"title": "Completely different"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["reason"], body["expiresAt"], body["approvedAt"]) == ("pending", "", None, None)
    assert list(EventOutbox.objects.filter(channel="listings.update").values_list("payload__status", flat=True)) == [
        "pending", "pending"]  # owner and admin room
    assert EventOutbox.objects.filter(channel="admin.alert", payload__kind="listing.pending").count() == 1


@pytest.mark.django_db
def test_saving_the_same_content_keeps_the_approval(api_for, seller):
    listing = ListingFactory(owner=seller, status=ListingStatus.APPROVED, title="Same")
    response = api_for(seller).patch(f"/api/listings/{listing.pk}", {"title": "Same"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert EventOutbox.objects.count() == 0
