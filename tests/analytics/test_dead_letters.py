"""A 202 means the events will be stored: events the worker cannot store are kept as a dead
letter (never dropped), shown in Django admin without a 500, and replayed by an admin action."""
from __future__ import annotations

import json

import pytest
from django.db import OperationalError, connection

from analytics.models import AnalyticsDeadLetter, AnalyticsEvent
from analytics.tasks import events_ingest
from audit.models import AuditLog

pytestmark = pytest.mark.django_db

BATCH = "6f1c9d0e-8d62-4f55-9d7e-3f0c2f1f9a02"
GOOD = {"name": "view", "ts": "2026-11-29T10:00:00+00:00", "properties": {"k": "v"}}


def ingest(events):
    return events_ingest.delay(batch_id=BATCH, user_id=None, events=events,
                               received_at="2026-11-29T10:00:01+00:00", request_id="req-1").get()


def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_an_event_the_worker_cannot_store_is_dead_lettered_and_the_others_stored(client, admin_user):
    bad = {"name": "view", "ts": "not a time", "properties": {}}
    assert ingest([GOOD, bad, GOOD]) == {"batchId": BATCH, "stored": 2, "deadLettered": 1}

    assert sorted(AnalyticsEvent.objects.values_list("seq", flat=True)) == [0, 2]
    letter = AnalyticsDeadLetter.objects.get()
    assert (str(letter.batch_id), letter.event_count, letter.status, letter.request_id) == (BATCH, 1, "pending", "req-1")
    assert json.loads(letter.events) == [{"seq": 1, **bad}]
    assert "ValueError" in letter.error
    # Redelivered: the good rows are stored once, the dead letter counts a second attempt.
    ingest([GOOD, bad, GOOD])
    assert AnalyticsEvent.objects.count() == 2
    assert AnalyticsDeadLetter.objects.get().attempts == 2

    admin = admin_client(client, admin_user)
    assert admin.get("/admin/analytics/analyticsdeadletter/").status_code == 200
    page = admin.get(f"/admin/analytics/analyticsdeadletter/{letter.pk}/change/")
    assert page.status_code == 200 and b"not a time" in page.content


def test_a_batch_still_failing_after_the_last_retry_is_dead_lettered_then_replayed(
        client, admin_user, monkeypatch):
    calls = []

    def down(*args, **kwargs):
        calls.append(1)
        raise OperationalError("database is locked")

    monkeypatch.setattr(AnalyticsEvent.objects, "bulk_create", down)
    assert ingest([GOOD, GOOD]) == {"batchId": BATCH, "stored": 0, "deadLettered": 2}
    assert len(calls) == events_ingest.max_retries + 1
    letter = AnalyticsDeadLetter.objects.get()
    assert letter.event_count == 2 and "after 5 retries" in letter.error
    monkeypatch.undo()

    before = AuditLog.objects.count()
    response = admin_client(client, admin_user).post(
        "/admin/analytics/analyticsdeadletter/", {"action": "replay", "_selected_action": [letter.pk]}, follow=True)
    assert response.status_code == 200
    letter.refresh_from_db()
    assert letter.status == "replayed" and letter.replayed_at is not None
    assert sorted(AnalyticsEvent.objects.values_list("seq", flat=True)) == [0, 1]
    log = AuditLog.objects.get(action="analytics.replay")
    assert AuditLog.objects.count() == before + 1
    assert (log.entity_id, log.metadata["stored"], log.metadata["stillFailing"]) == (str(letter.pk), 2, 0)
    # A second replay is refused and changes nothing.
    admin_client(client, admin_user).post(
        "/admin/analytics/analyticsdeadletter/", {"action": "replay", "_selected_action": [letter.pk]})
    assert AnalyticsEvent.objects.count() == 2 and AuditLog.objects.count() == before + 1


def test_replay_with_repair_stores_text_the_database_refused(client, admin_user):
    from analytics.ingest import dead_letter_write

    events = [{"seq": 0, "name": "view", "ts": GOOD["ts"], "properties": {"note": "a\ud800b", "z": "n\x00l"}}]
    letter = dead_letter_write(batch_id=BATCH, user_id=None, events=events, received_at=GOOD["ts"],
                               error="DataError: unsupported Unicode escape sequence \ud800")
    admin = admin_client(client, admin_user)
    assert admin.get(f"/admin/analytics/analyticsdeadletter/{letter.pk}/change/").status_code == 200

    admin.post("/admin/analytics/analyticsdeadletter/",
               {"action": "replay_repaired", "_selected_action": [letter.pk]})
    letter.refresh_from_db()
    assert letter.status == "replayed"
    assert AnalyticsEvent.objects.get().properties == {"note": "a\ufffdb", "z": "n\ufffdl"}
    assert admin.get(f"/admin/analytics/analyticsevent/{AnalyticsEvent.objects.get().pk}/change/").status_code == 200


def test_event_admin_shows_any_stored_text_without_a_500():
    from django.contrib.admin.sites import site

    page = site._registry[AnalyticsEvent].properties_json(AnalyticsEvent(properties={"k": "a\ud800\x00"}))
    assert "\\ud800" in page and "\\u0000" in page
    page.encode("utf-8")  # what a response does; a lone surrogate would raise here


def test_moderators_do_not_see_dead_letters(client, moderator):
    client.force_login(moderator)
    assert client.get("/admin/analytics/analyticsdeadletter/").status_code == 403


@pytest.mark.postgres
def test_on_postgresql_text_jsonb_refuses_is_dead_lettered_not_dropped():
    assert connection.vendor == "postgresql"
    bad = {"name": "view", "ts": GOOD["ts"], "properties": {"note": "a\ud800"}}
    nul = {"name": "view", "ts": GOOD["ts"], "properties": {"note": "a\x00"}}
    assert ingest([GOOD, bad, nul]) == {"batchId": BATCH, "stored": 1, "deadLettered": 2}
    letter = AnalyticsDeadLetter.objects.get()
    assert [e["seq"] for e in json.loads(letter.events)] == [1, 2]
    assert "DataError" in letter.error
