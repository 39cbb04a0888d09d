"""Concurrency on PostgreSQL: a search document and an analytics batch written by two workers
at once end up written once (real threads, a barrier, separate connections)."""
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from analytics.models import AnalyticsEvent
from analytics.ingest import events_insert
from listings.models import ListingStatus, SearchDocument
from listings.search.services import search_document_sync

from ..listings.factories import ListingFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(fn, n=4):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_syncs_of_one_listing_write_one_document(seller):
    listing = ListingFactory(owner=seller, status=ListingStatus.APPROVED, approved_at=timezone.now(),
                             expires_at=timezone.now() + timedelta(days=3), title="Concurrent lamp")
    results, errors = run_concurrently(lambda: search_document_sync(listing_id=listing.pk))
    assert errors == []
    assert results == ["indexed"] * 4
    assert SearchDocument.objects.filter(pk=listing.pk).count() == 1
    assert SearchDocument.objects.filter(search_vector__isnull=True).count() == 0


def test_concurrent_ingest_of_one_batch_stores_it_once(buyer):
    events = [{"name": "tap", "ts": "2026-11-29T10:00:00+00:00", "properties": {"i": i}} for i in range(50)]
    results, errors = run_concurrently(lambda: events_insert(
        batch_id="0b1d7a4e-5f8c-4c3e-9a57-2f4b9c8d7e61", user_id=buyer.pk, events=events,
        received_at="2026-11-29T10:00:01+00:00"))
    assert errors == [] and results == [{"stored": 50, "deadLettered": 0}] * 4
    assert AnalyticsEvent.objects.count() == 50
    assert sorted(AnalyticsEvent.objects.values_list("seq", flat=True)) == list(range(50))
