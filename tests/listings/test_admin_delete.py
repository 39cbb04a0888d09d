"""Deleting listings in Django admin goes through listings.services.listing_remove."""
import pytest

from accounts.models import Role
from audit.models import AuditLog
from listings.models import Listing
from outbox.models import EventOutbox

from .factories import ListingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(Role.ADMIN, is_staff=True, username="lister-admin"))
    return client


def _deleted_events():
    return [(e.group, e.payload["id"]) for e in EventOutbox.objects.filter(channel="listings.update").order_by("id")
            if e.payload["status"] == "deleted"]


def test_single_delete_writes_audit_event_and_removes_from_search(admin_client, seller, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    removed = []
    monkeypatch.setattr("listings.tasks.search_document_remove", lambda *, listing_id: removed.append(listing_id))
    listing = ListingFactory(owner=seller, title="Old bike")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/listings/listing/{listing.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Listing.objects.filter(pk=listing.pk).exists()
    audit = AuditLog.objects.get(action="listing.delete")
    assert (audit.entity_type, audit.entity_id) == ("listing", str(listing.pk))
    assert audit.metadata == {"title": "Old bike", "ownerId": seller.pk, "status": "pending"}
    assert sorted(_deleted_events()) == [("admin", listing.pk), (f"user.{seller.pk}", listing.pk)]
    assert removed == [listing.pk]


def test_bulk_delete_calls_the_service_for_each_listing(admin_client, seller, monkeypatch,
                                                        django_capture_on_commit_callbacks):
    removed = []
    monkeypatch.setattr("listings.tasks.search_document_remove", lambda *, listing_id: removed.append(listing_id))
    listings = [ListingFactory(owner=seller) for _ in range(3)]
    kept = ListingFactory(owner=seller)
    ids = [str(x.pk) for x in listings]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/listings/listing/",
                                     {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert response.status_code == 302
    assert list(Listing.objects.values_list("pk", flat=True)) == [kept.pk]
    assert sorted(AuditLog.objects.filter(action="listing.delete").values_list("entity_id", flat=True)) == sorted(ids)
    assert len(_deleted_events()) == 6
    assert sorted(removed) == sorted(x.pk for x in listings)


def test_moderator_cannot_delete_and_nothing_changes(client, make_user, seller):
    listing = ListingFactory(owner=seller)
    client.force_login(make_user(Role.MODERATOR, is_staff=True))
    response = client.post(f"/admin/listings/listing/{listing.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Listing.objects.filter(pk=listing.pk).exists()
    assert AuditLog.objects.filter(action="listing.delete").count() == 0
