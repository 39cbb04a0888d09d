"""`GET /api/admin/outbox?status=`, `POST /api/admin/outbox/{id}/retry`, and the admin action."""
from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.models import Role
from audit.models import AuditLog
from outbox.models import EventOutbox, OutboxStatus
from outbox.services import publish


def _rows(n: int, status: str) -> list[int]:
    with transaction.atomic():
        ids = [publish(channel="test.event", groups=[f"user.{i}"], data={"i": i})[0].id for i in range(n)]
    EventOutbox.objects.filter(id__in=ids).update(status=status, attempts=10, last_error="boom")
    return ids


@pytest.mark.django_db(transaction=True)
def test_list_filters_by_status_camelcase_paginated(api_for, admin_user):
    failed = _rows(3, OutboxStatus.FAILED)
    _rows(2, OutboxStatus.SENT)
    body = api_for(admin_user).get("/api/admin/outbox?status=failed&pageSize=2").json()
    assert body["count"] == 3 and body["next"] and len(body["results"]) == 2
    first = body["results"][0]
    assert first["id"] == failed[-1]  # newest first
    assert set(first) == {"id", "channel", "group", "payload", "requestId", "status", "attempts", "nextAttemptAt",
                          "lastError", "sentAt", "createdAt"}
    assert (first["status"], first["attempts"], first["lastError"]) == ("failed", 10, "boom")
    assert api_for(admin_user).get("/api/admin/outbox").json()["count"] == 5
    bad = api_for(admin_user).get("/api/admin/outbox?status=nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"


@pytest.mark.django_db(transaction=True)
def test_list_query_count_is_bounded(api_for, admin_user, django_assert_max_num_queries):
    _rows(30, OutboxStatus.FAILED)
    client = api_for(admin_user)
    with django_assert_max_num_queries(4):
        assert client.get("/api/admin/outbox?status=failed").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role,status", [(None, 401), (Role.USER, 403), (Role.MODERATOR, 403), ("blocked", 403)])
def test_outbox_api_is_admin_only(api, api_for, make_user, role, status):
    [row] = _rows(1, OutboxStatus.FAILED)
    if role is None:
        client = api
    elif role == "blocked":
        from django.utils import timezone
        client = api_for(make_user(Role.ADMIN, blocked_at=timezone.now()))
    else:
        client = api_for(make_user(role))
    assert client.get("/api/admin/outbox").status_code == status
    assert client.post(f"/api/admin/outbox/{row}/retry").status_code == status
    assert EventOutbox.objects.get(id=row).status == "failed"
    assert AuditLog.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_retry_puts_a_failed_row_back_and_the_relay_sends_it(api_for, admin_user):
    [row] = _rows(1, OutboxStatus.FAILED)
    response = api_for(admin_user).post(f"/api/admin/outbox/{row}/retry")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == row
    fresh = EventOutbox.objects.get(id=row)
    assert (fresh.status, fresh.attempts, fresh.last_error) == ("sent", 0, "")  # sent after commit
    [audit] = AuditLog.objects.all()
    assert (audit.action, audit.entity_type, audit.entity_id, audit.user_id) == ("outbox.retry", "outbox", str(row),
                                                                                  admin_user.pk)
    assert audit.metadata == {"attempts": 10, "lastError": "boom"}


@pytest.mark.django_db(transaction=True)
def test_retry_of_a_row_that_is_not_failed_is_409_and_changes_nothing(api_for, admin_user):
    [row] = _rows(1, OutboxStatus.SENT)
    response = api_for(admin_user).post(f"/api/admin/outbox/{row}/retry")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert EventOutbox.objects.get(id=row).status == "sent"
    assert AuditLog.objects.count() == 0
    missing = api_for(admin_user).post("/api/admin/outbox/999999/retry")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.django_db(transaction=True)
def test_admin_action_retries_through_the_same_service(client, admin_user):
    failed = _rows(2, OutboxStatus.FAILED)
    [sent] = _rows(1, OutboxStatus.SENT)
    client.force_login(admin_user)
    url = reverse("admin:outbox_eventoutbox_changelist")
    response = client.post(url, {"action": "retry_selected", "_selected_action": [*failed, sent]}, follow=True)
    assert response.status_code == 200
    assert sorted(EventOutbox.objects.filter(status="sent").values_list("id", flat=True)) == sorted([*failed, sent])
    assert sorted(AuditLog.objects.values_list("entity_id", flat=True)) == sorted(str(i) for i in failed)
    messages = [str(m) for m in response.context["messages"]]
    assert "Retrying 2 event(s)." in messages
    assert any(f"#{sent}:" in m for m in messages)


@pytest.mark.django_db(transaction=True)
def test_admin_index_has_the_live_panel(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/admin/").content.decode()
    assert 'id="live-panel"' in html and "ops/dashboard.js" in html
    assert 'data-stat="pendingListings"' in html


@pytest.mark.django_db(transaction=True)
def test_new_listing_raises_an_admin_alert(api_for, seller):
    response = api_for(seller).post("/api/listings", {"title": "Sofa", "description": "Three seater",
                                                       "category": "furniture", "price": "7500.00"}, format="json")
    assert response.status_code == 201
    [alert] = EventOutbox.objects.filter(channel="admin.alert")
    assert alert.group == "admin"
    assert alert.payload["kind"] == "listing.pending"
    assert alert.payload["listingId"] == response.json()["id"]
