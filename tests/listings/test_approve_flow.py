"""The first slice end to end in-process: a moderator's approval or rejection reaches the
seller's websocket through the outbox, with one audit row and one notification."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from audit.models import AuditLog
from listings.models import Listing, ListingStatus
from notifications.models import Notification
from outbox.models import EventOutbox, OutboxStatus

from ..realtime.communicator import ws_connect, ws_frames


def _moderate(api_for, moderator, listing, action, body, request_id):
    return api_for(moderator).post(f"/api/listings/{listing.pk}/{action}", body, format="json",
                                   HTTP_X_REQUEST_ID=request_id, REMOTE_ADDR="203.0.113.7")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "action,body,status",
    [("approve", {"reason": "Quality listing", "expiryDays": 30}, "approved"),
     ("reject", {"reason": "Blurry photos"}, "rejected")],
)
def test_moderation_reaches_the_sellers_socket(api_for, seller, moderator, listing, action, body, status):
    async def scenario():
        async with ws_connect(seller) as (comm, ready):
            assert ready == {"type": "ready", "userId": seller.pk, "groups": [f"user.{seller.pk}", "public"]}
            response = await database_sync_to_async(_moderate)(api_for, moderator, listing, action, body,
                                                               "req-abc-123")
            frames = await ws_frames(comm)
        return response, frames

    response, frames = async_to_sync(scenario)()

    assert response.status_code == 200, response.content
    assert response["X-Request-ID"] == "req-abc-123"
    listing.refresh_from_db()
    assert listing.status == status
    updates = [f for f in frames if f.get("channel") == "listings.update"]
    assert len(updates) == 1
    frame = updates[0]
    assert frame["type"] == "event"
    assert frame["requestId"] == "req-abc-123"
    assert frame["data"]["id"] == listing.pk
    assert frame["data"]["status"] == status
    if status == "approved":
        assert frame["data"]["expiresAt"] is not None
        assert listing.expires_at is not None
        assert (listing.expires_at - listing.approved_at).days == 30
    else:
        assert frame["data"]["reason"] == "Blurry photos"
    assert [f["data"]["templateKey"] for f in frames if f.get("channel") == "notifications.new"] == [f"listing_{status}"]

    audit = list(AuditLog.objects.filter(entity_type="listing", entity_id=str(listing.pk)))
    assert len(audit) == 1
    assert audit[0].action == f"listing.{action}"
    assert audit[0].user == moderator
    assert audit[0].request_id == "req-abc-123"
    assert audit[0].ip_address == "203.0.113.7"

    rows = EventOutbox.objects.filter(channel="listings.update", payload__id=listing.pk)
    assert sorted(rows.values_list("group", flat=True)) == ["admin", f"user.{seller.pk}"]
    assert set(rows.values_list("status", flat=True)) == {OutboxStatus.SENT}
    assert frame["id"] == rows.get(group=f"user.{seller.pk}").pk
    notifications = Notification.objects.filter(user=seller)
    assert [(n.template_key, n.status) for n in notifications] == [(f"listing_{status}", "sent")]


@pytest.mark.django_db(transaction=True)
def test_admin_room_receives_the_update(api_for, seller, moderator, admin_user, listing):
    async def scenario():
        async with ws_connect(admin_user) as (comm, ready):
            assert "admin" in ready["groups"]
            await database_sync_to_async(_moderate)(api_for, moderator, listing, "approve", {}, "req-admin-room")
            frames = await ws_frames(comm)
        return frames

    frames = async_to_sync(scenario)()
    assert [(f["channel"], f["data"]["id"]) for f in frames if f.get("type") == "event"] == [("listings.update", listing.pk)]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_approval_is_silent(api_for, seller, moderator, listing, monkeypatch):
    """A failure after the status change inside the approval transaction leaves no trace:
    no frame, no outbox row, no audit row, no notification, listing still pending."""

    def broken(**kwargs):
        raise RuntimeError("notification queue exploded")

    monkeypatch.setattr("listings.services.notification_record", broken)

    async def scenario():
        def call():
            client = api_for(moderator)
            client.raise_request_exception = False
            return client.post(f"/api/listings/{listing.pk}/approve", {"expiryDays": 10}, format="json")

        async with ws_connect(seller) as (comm, _):
            response = await database_sync_to_async(call)()
            frames = await ws_frames(comm)
        return response, frames

    response, frames = async_to_sync(scenario)()
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert frames == []
    listing.refresh_from_db()
    assert listing.status == ListingStatus.PENDING
    assert listing.expires_at is None
    assert EventOutbox.objects.count() == 0
    assert AuditLog.objects.count() == 0
    assert Notification.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_other_users_socket_gets_nothing(api_for, seller, buyer, moderator, listing):
    async def scenario():
        async with ws_connect(buyer) as (comm, _):
            await database_sync_to_async(_moderate)(api_for, moderator, listing, "approve", {}, "req-other")
            frames = await ws_frames(comm)
        return frames

    assert async_to_sync(scenario)() == []
    assert Listing.objects.get(pk=listing.pk).status == ListingStatus.APPROVED


@pytest.mark.django_db
@pytest.mark.parametrize("owner_setup,expected", [
    ("device, phone, email off", ["push", "sms"]),
    ("no preference row", ["email"]),
    ("inactive account", []),
])
def test_approval_notifies_the_owner_on_the_channels_of_the_notification_rule(
        api_for, moderator, make_user, owner_setup, expected):
    # The approval's statement reads the owner's channels on PostgreSQL (listings.lock_objects):
    # the same rule as notifications.selectors.channels_for_users.
    from accounts.models import Role
    from notifications.models import Device, NotificationPreference
    from notifications.selectors import channels_for_users
    from tests.listings.factories import ListingFactory

    owner = make_user(Role.USER, username="chan-owner", email="owner@example.com")
    if owner_setup == "device, phone, email off":
        Device.objects.create(user=owner, token="tok-1")
        NotificationPreference.objects.create(user=owner, phone="+15550100", email_enabled=False)
    elif owner_setup == "inactive account":
        type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    listing = ListingFactory(owner=owner)
    assert channels_for_users(user_ids=[owner.pk]).get(owner.pk, []) == expected
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/approve", {}, format="json")
    assert response.status_code == 200
    rows = Notification.objects.filter(user=owner, template_key="listing_approved").order_by("id")
    assert [n.channel for n in rows] == expected
    assert EventOutbox.objects.filter(channel="notifications.new").count() == (1 if expected else 0)
