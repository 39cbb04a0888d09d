"""SQL statements per request on the hot endpoints (docs/benchmarks.md, "What each change bought").

Pinned exactly, so a change that adds a round trip to approve, refund or the two hot reads shows up
here. Counted inside the test's transaction: each service's `atomic` is a SAVEPOINT + RELEASE pair
here (BEGIN/COMMIT, not counted by Django, in production); after-commit work is not counted.
"""
from __future__ import annotations

import uuid

import pytest
from django.db import connection

from accounts.models import Role
from audit.models import AuditLog
from listings.models import Listing
from outbox.models import EventOutbox
from tests.listings.factories import ListingFactory
from wallet.models import Wallet


@pytest.fixture
def refund_admin(make_user):
    return make_user(Role.ADMIN, username="refund-admin", is_staff=True)


@pytest.mark.django_db
def test_approve_statement_count(moderator, seller, api_for, django_assert_num_queries):
    # auth user; SAVEPOINT; ONE guarded UPDATE .. RETURNING (pending, not the actor's own, the claim
    # free or the actor's: the row lock and the rule of moderation_lock, docs/moderation.md) which on
    # PostgreSQL also reads the owner's channels; notification INSERT; then on PostgreSQL ONE statement
    # for the audit row, the outbox rows (owner + admin, the notification's) and ONE follow-up INSERT
    # for the notification send and the search update (core.compiled.inserts_together,
    # outbox.followups.followups_together; docs/operations.md); RELEASE. SQLite: the channels read,
    # audit INSERT, outbox INSERT, its outbox INSERT and the follow-up INSERT apart.
    listing = ListingFactory(owner=seller)
    client = api_for(moderator)
    with django_assert_num_queries(6 if connection.vendor == "postgresql" else 10):
        response = client.post(f"/api/listings/{listing.pk}/approve", {"expiryDays": 30}, format="json")
    assert response.status_code == 200
    assert Listing.objects.get(pk=listing.pk).status == "approved"
    assert AuditLog.objects.filter(action="listing.approve", entity_id=str(listing.pk)).count() == 1
    assert EventOutbox.objects.filter(channel="listings.update").count() == 2


@pytest.mark.django_db
def test_approving_a_listing_that_is_not_pending_is_a_conflict_and_changes_nothing(moderator, seller, api_for):
    listing = ListingFactory(owner=seller, status="rejected")
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/approve", {}, format="json")
    assert response.status_code == 409
    assert Listing.objects.get(pk=listing.pk).status == "rejected"
    assert AuditLog.objects.count() == 0 and EventOutbox.objects.count() == 0


@pytest.mark.django_db
def test_approving_ones_own_listing_is_forbidden_and_changes_nothing(moderator, api_for):
    listing = ListingFactory(owner=moderator)
    response = api_for(moderator).post(f"/api/listings/{listing.pk}/approve", {}, format="json")
    assert response.status_code == 403
    assert Listing.objects.get(pk=listing.pk).status == "pending"
    assert AuditLog.objects.count() == 0 and EventOutbox.objects.count() == 0


@pytest.mark.django_db
def test_refund_to_an_existing_wallet_statement_count(refund_admin, seller, api_for, django_assert_num_queries):
    Wallet.objects.create(user=seller)
    client = api_for(refund_admin)
    body = {"userId": seller.pk, "amount": "5.00", "reason": "late delivery", "refId": "order-9"}
    # auth user; the key claim (one statement); SAVEPOINT (idempotent_call's block; the refund's writes
    # open none of their own); journal entry INSERT; guarded balance UPDATE .. RETURNING; refId cap SUM;
    # the user's channels; notification INSERT; then on PostgreSQL ONE statement for the postings (one
    # INSERT for both), the audit row, the outbox rows (balance + admin alert, the notification's) and
    # the follow-up (the send) (core.compiled.inserts_together); key UPDATE; RELEASE. SQLite: postings,
    # audit, outbox, its outbox and follow-up INSERTs apart, the postings and audit before the UPDATE.
    with django_assert_num_queries(11 if connection.vendor == "postgresql" else 15):
        response = client.post("/api/wallet/refund", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.content
    assert Wallet.objects.get(pk=seller.pk).balance == 5


@pytest.mark.django_db
def test_wallet_read_is_one_statement(seller, api_for, django_assert_num_queries):
    Wallet.objects.create(user=seller, balance="12.50")
    client = api_for(seller)
    with django_assert_num_queries(1):  # the user (role, block) with the wallet joined
        assert client.get("/api/wallet").json() == {"userId": seller.pk, "balance": "12.50", "currency": "INR"}
    Wallet.objects.filter(pk=seller.pk).update(balance="0.00")
    with django_assert_num_queries(1):
        assert client.get("/api/wallet").json() == {"userId": seller.pk, "balance": "0.00", "currency": "INR"}


@pytest.mark.django_db
def test_own_listings_read_is_two_statements(seller, api_for, django_assert_num_queries):
    ListingFactory.create_batch(25, owner=seller)
    ListingFactory.create_batch(2)  # someone else's
    client = api_for(seller)
    with django_assert_num_queries(2):  # auth user; the page with COUNT(*) OVER ()
        body = client.get("/api/listings").json()
    assert body["count"] == 25 and len(body["results"]) == 20 and body["next"].endswith("?page=2")
    with django_assert_num_queries(2):
        body = client.get("/api/listings?page=2").json()
    assert body["count"] == 25 and len(body["results"]) == 5 and body["next"] is None
    with django_assert_num_queries(3):  # past the end: the page is empty, counted apart -> 404
        assert client.get("/api/listings?page=3").status_code == 404


@pytest.mark.django_db
def test_own_listings_read_when_there_are_none(seller, api_for):
    assert api_for(seller).get("/api/listings").json() == {"count": 0, "next": None, "previous": None, "results": []}
