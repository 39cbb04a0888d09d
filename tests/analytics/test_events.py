"""`POST /api/analytics/events`: a valid batch is queued after commit and bulk-inserted once;
a bad batch is a 400 naming the item, and nothing is queued or written."""
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone

from analytics.models import AnalyticsEvent
from analytics.tasks import events_ingest

pytestmark = pytest.mark.django_db
URL = "/api/analytics/events"


def event(i=0, **overrides):
    ts = (timezone.now() - timedelta(minutes=i)).astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")
    return {"name": "listing.view", "ts": ts, "properties": {"listingId": i, "source": "home"}, **overrides}


def post(client, body, capture):
    with capture(execute=True) as callbacks:
        response = client.post(URL, body, format="json")
    return response, callbacks


def test_batch_is_inserted_once(api_for, buyer, django_capture_on_commit_callbacks):
    batch = [event(i) for i in range(3)] + [{"name": "search", "ts": "2026-11-29T10:00:00+05:30"}]
    response, callbacks = post(api_for(buyer), {"events": batch}, django_capture_on_commit_callbacks)

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 4 and len(callbacks) == 1
    rows = list(AnalyticsEvent.objects.order_by("seq"))
    assert [(r.seq, r.name, r.user_id, str(r.batch_id)) for r in rows] == [
        (0, "listing.view", buyer.pk, body["batchId"]), (1, "listing.view", buyer.pk, body["batchId"]),
        (2, "listing.view", buyer.pk, body["batchId"]), (3, "search", buyer.pk, body["batchId"]),
    ]
    assert rows[0].properties == {"listingId": 0, "source": "home"}
    assert rows[3].properties == {}
    assert rows[3].ts == datetime(2026, 11, 29, 4, 30, tzinfo=dt_timezone.utc)


def test_redelivered_batch_is_stored_once(buyer):
    kwargs = {"batch_id": "6f1c9d0e-8d62-4f55-9d7e-3f0c2f1f9a01", "user_id": buyer.pk,
              "events": [{"name": "a", "ts": "2026-11-29T10:00:00+00:00", "properties": {}}] * 2,
              "received_at": "2026-11-29T10:00:01+00:00"}
    events_ingest.delay(**kwargs).get()
    events_ingest.delay(**kwargs).get()
    assert AnalyticsEvent.objects.count() == 2


def test_batch_of_501_is_rejected(api_for, buyer, django_capture_on_commit_callbacks):
    response, callbacks = post(api_for(buyer), {"events": [event(i % 60) for i in range(501)]},
                               django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"events": "Ensure this field has no more than 500 elements."}
    assert callbacks == [] and AnalyticsEvent.objects.count() == 0


def test_batch_of_500_is_accepted(api_for, buyer, django_capture_on_commit_callbacks):
    response, _ = post(api_for(buyer), {"events": [event(i % 60) for i in range(500)]}, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    assert AnalyticsEvent.objects.count() == 500


@pytest.mark.parametrize("bad, field, message", [
    ({"ts": "yesterday"}, "events.3.ts", "Datetime has wrong format"),
    ({"ts": "2026-11-29T10:00:00"}, "events.3.ts", "Include a UTC offset"),
    ({"ts": "2001-01-01T00:00:00Z"}, "events.3.ts", "Older than 30 days"),
    ({"name": ""}, "events.3.name", "This field may not be blank."),
    ({"name": "drop table;"}, "events.3.name", "Letters, digits"),
    ({"properties": ["not", "an", "object"]}, "events.3.properties", "Expected a dictionary"),
    ({"properties": {"blob": "x" * 5000}}, "events.3.properties", "At most 4096 bytes"),
])
def test_bad_item_is_named_by_index_and_nothing_is_queued(api_for, buyer, django_capture_on_commit_callbacks,
                                                          bad, field, message):
    batch = [event(i) for i in range(5)]
    batch[3] = {**batch[3], **bad}
    response, callbacks = post(api_for(buyer), {"events": batch}, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert list(fields) == [field] and fields[field].startswith(message)
    assert callbacks == [] and AnalyticsEvent.objects.count() == 0


@pytest.mark.parametrize("body", [{}, {"events": []}, {"events": "x"}, {"events": [None]}])
def test_malformed_bodies_are_400(api_for, buyer, body, django_capture_on_commit_callbacks):
    response, callbacks = post(api_for(buyer), body, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]
    assert callbacks == [] and AnalyticsEvent.objects.count() == 0


def test_anonymous_is_401(api):
    assert api.post(URL, {"events": [event()]}, format="json").status_code == 401
    assert AnalyticsEvent.objects.count() == 0
