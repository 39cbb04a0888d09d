"""Listing search: the `search` tasks keep one document per live listing, and
`GET /api/listings/search` ranks a title match above a description match."""
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from listings import services
from listings.models import Listing, ListingStatus, SearchDocument
from listings.search.services import search_document_sync
from listings.tasks import search_remove, search_upsert

from .factories import ListingFactory

pytestmark = pytest.mark.django_db


def approve(listing, moderator, capture, **kwargs):
    with capture(execute=True):
        return services.listing_approve(listing_id=listing.pk, actor=moderator, **kwargs)


def search(api, **params):
    response = api.get("/api/listings/search", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_title_match_ranks_above_description_match(api, seller, moderator, django_capture_on_commit_callbacks):
    # given: one listing says "guitar" in its description only (approved first, so newer
    # approval cannot explain the order), another in its title
    in_description = ListingFactory(owner=seller, title="Music stand", description="Fits any guitar or violin.")
    in_title = ListingFactory(owner=seller, title="Yamaha guitar F310", description="Six strings, lightly used.")
    other = ListingFactory(owner=seller, title="Office chair", description="Ergonomic.")
    for listing in (in_title, in_description, other):
        approve(listing, moderator, django_capture_on_commit_callbacks)

    # when
    body = search(api, q="guitar")

    # then: anonymous callers may search; the title match comes first
    assert [r["id"] for r in body["results"]] == [in_title.pk, in_description.pk]
    assert body["count"] == 2
    assert body["results"][0] == {
        "id": in_title.pk, "ownerId": seller.pk, "title": "Yamaha guitar F310", "description": "Six strings, lightly used.",
        "category": "electronics", "price": "1200.00", "approvedAt": body["results"][0]["approvedAt"],
        "expiresAt": body["results"][0]["expiresAt"],
    }


def test_only_live_listings_are_found(api, seller, moderator, django_capture_on_commit_callbacks):
    live = ListingFactory(owner=seller, title="Red bicycle")
    pending = ListingFactory(owner=seller, title="Red bicycle pending")
    rejected = ListingFactory(owner=seller, title="Red bicycle rejected")
    approve(live, moderator, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.listing_reject(listing_id=rejected.pk, actor=moderator, reason="Blurry photos")

    assert [r["id"] for r in search(api, q="bicycle")["results"]] == [live.pk]
    assert set(SearchDocument.objects.values_list("listing_id", flat=True)) == {live.pk}
    assert pending.pk and rejected.pk


def test_expired_listing_is_removed_by_upsert(api, seller, moderator, django_capture_on_commit_callbacks):
    # given an indexed listing whose expiresAt has passed (the expiry job may not have run yet)
    listing = approve(ListingFactory(owner=seller, title="Old sofa"), moderator, django_capture_on_commit_callbacks)
    assert SearchDocument.objects.filter(pk=listing.pk).exists()
    Listing.objects.filter(pk=listing.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    # then it is not found even before the sync ...
    assert search(api, q="sofa")["count"] == 0
    # ... and search_upsert removes its document, idempotently
    assert search_upsert.delay(listing_id=listing.pk).get() == {"listingId": listing.pk, "result": "removed"}
    assert search_upsert.delay(listing_id=listing.pk).get() == {"listingId": listing.pk, "result": "absent"}
    Listing.objects.filter(pk=listing.pk).update(status=ListingStatus.EXPIRED, expired_at=timezone.now())
    assert search_upsert.delay(listing_id=listing.pk).get()["result"] == "absent"
    assert not SearchDocument.objects.exists()


def test_edit_reindexes_and_delete_removes(api, seller, moderator, django_capture_on_commit_callbacks):
    listing = approve(ListingFactory(owner=seller, title="Wooden desk"), moderator, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.listing_update(listing_id=listing.pk, owner=seller, changes={"title": "Walnut writing desk",
                                                                              "category": "furniture"})
    # An edited listing goes back to moderation: out of search until approved again.
    assert search(api, q="walnut")["count"] == 0 and search(api, q="wooden")["count"] == 0
    listing = approve(listing, moderator, django_capture_on_commit_callbacks)
    assert search(api, q="walnut", category="furniture")["count"] == 1
    assert search(api, q="walnut", category="electronics")["count"] == 0
    assert search(api, q="wooden")["count"] == 0

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.listing_delete(listing_id=listing.pk, owner=seller)
    assert len(callbacks) == 1
    assert search(api, q="walnut")["count"] == 0
    assert not SearchDocument.objects.exists()
    assert search_remove.delay(listing_id=listing.pk).get()["result"] == "absent"


def test_rolled_back_approval_queues_nothing(seller, moderator, django_capture_on_commit_callbacks):
    listing = ListingFactory(owner=seller, title="Camera")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Exception):
            services.listing_approve(listing_id=listing.pk, actor=moderator, expiry_days=400)
    assert callbacks == []
    assert not SearchDocument.objects.exists()


def test_blank_query_lists_live_listings_newest_first_with_capped_page(api, seller, moderator,
                                                                       django_capture_on_commit_callbacks):
    listings = [ListingFactory(owner=seller) for _ in range(3)]
    for listing in listings:
        approve(listing, moderator, django_capture_on_commit_callbacks)
    body = search(api)
    assert [r["id"] for r in body["results"]] == [listings[2].pk, listings[1].pk, listings[0].pk]
    assert len(search(api, pageSize=2)["results"]) == 2


def test_search_queries_are_bounded(api, seller, moderator, django_capture_on_commit_callbacks,
                                    django_assert_max_num_queries):
    for _ in range(5):
        approve(ListingFactory(owner=seller, title="Lamp"), moderator, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(2):  # count + page
        assert search(api, q="lamp")["count"] == 5


@pytest.mark.parametrize("params, field", [({"category": "boats"}, "category"), ({"q": "x" * 201}, "q")])
def test_bad_parameters_are_400(api, params, field):
    response = api.get("/api/listings/search", params)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_invalid_token_is_rejected_even_though_search_is_public(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api.get("/api/listings/search").status_code == 401


@pytest.mark.postgres
def test_postgres_full_text_ranks_and_stems(api, seller, moderator, django_capture_on_commit_callbacks):
    # given: stemming ("guitars" ~ "guitar") and weights (title A > description B)
    in_description = ListingFactory(owner=seller, title="Amplifier 30W", description="Great with electric guitars.")
    in_title = ListingFactory(owner=seller, title="Electric guitars, two", description="Both need new strings.")
    for listing in (in_title, in_description):
        approve(listing, moderator, django_capture_on_commit_callbacks)

    body = search(api, q="guitar")
    assert [r["id"] for r in body["results"]] == [in_title.pk, in_description.pk]
    # websearch syntax: exclusion
    assert [r["id"] for r in search(api, q="guitar -amplifier")["results"]] == [in_title.pk]
    # the vector is stored and indexed with GIN
    assert SearchDocument.objects.filter(search_vector__isnull=True).count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'searchdoc_vector_gin'")
        assert "USING gin (search_vector)" in cursor.fetchone()[0]


def test_page_size_is_capped_at_50(api, seller):
    future = timezone.now() + timedelta(days=5)
    for listing in ListingFactory.create_batch(55, owner=seller, status=ListingStatus.APPROVED,
                                               approved_at=timezone.now(), expires_at=future):
        search_document_sync(listing_id=listing.pk)
    body = search(api, pageSize=1000)
    assert body["count"] == 55 and len(body["results"]) == 50


def test_search_rebuild_repairs_the_index(seller):
    # given live listings without documents (a lost task) and a stale document of a pending listing
    future = timezone.now() + timedelta(days=5)
    live = ListingFactory.create_batch(3, owner=seller, status=ListingStatus.APPROVED, approved_at=timezone.now(),
                                       expires_at=future)
    pending = ListingFactory(owner=seller)
    SearchDocument.objects.create(listing=pending, title=pending.title, category=pending.category)
    out = StringIO()
    call_command("search_rebuild", stdout=out)
    assert out.getvalue().strip() == "search_rebuild: indexed 3, removed 1"
    assert set(SearchDocument.objects.values_list("listing_id", flat=True)) == {x.pk for x in live}
