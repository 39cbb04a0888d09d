"""Banners: admin CRUD, validation, public feed by schedule and priority, cache, events, audit (docs/access-and-hardening.md)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from audit.models import AuditLog
from banners.models import Banner
from banners.selectors import feed_cache_keys
from outbox.models import EventOutbox

pytestmark = pytest.mark.django_db


def _drop_feed_cache():
    cache.delete_many(feed_cache_keys())  # only ours: a shared Redis also holds other data


@pytest.fixture(autouse=True)
def _fresh_cache():
    _drop_feed_cache()
    yield
    _drop_feed_cache()


def _body(**over):
    now = timezone.now()
    body = {"placement": "home", "title": "Diwali sale", "imageUrl": "https://cdn.example.com/d.png",
            "link": "https://example.com/sale", "startDate": (now - timedelta(hours=1)).isoformat(),
            "endDate": (now + timedelta(days=1)).isoformat(), "priority": 10}
    body.update(over)
    return {k: v for k, v in body.items() if v is not ...}


def _counts():
    return Banner.objects.count(), AuditLog.objects.count(), EventOutbox.objects.count()


def test_create_audits_publishes_and_shows_in_feed(api, api_for, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(admin_user).post("/api/settings/banners", _body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "active" and body["createdBy"] == admin_user.pk and body["priority"] == 10
    log = AuditLog.objects.get()
    assert (log.action, log.entity_id, log.user_id) == ("banner.create", str(body["id"]), admin_user.pk)
    event = EventOutbox.objects.get()
    assert (event.channel, event.group, event.payload) == (
        "banners.update", "public", {"bannerId": body["id"], "placement": "home", "op": "created"})

    feed = api.get("/api/banners?placement=home")
    assert feed.status_code == 200
    assert [b["id"] for b in feed.json()["results"]] == [body["id"]]
    assert "createdBy" not in feed.json()["results"][0]


@pytest.mark.parametrize("over, field", [
    ({"placement": "sidebar"}, "placement"),
    ({"placement": ...}, "placement"),
    ({"imageUrl": "javascript:alert(1)"}, "imageUrl"),
    ({"imageUrl": "ftp://cdn.example.com/x.png"}, "imageUrl"),
    ({"imageUrl": ...}, "imageUrl"),
    ({"link": "data:text/html,hi"}, "link"),
    ({"priority": -1}, "priority"),
    ({"priority": 1001}, "priority"),
    ({"priority": "high"}, "priority"),
    ({"priority": 1.5}, "priority"),
    ({"endDate": "2000-01-01T00:00:00Z"}, "endDate"),
    ({"startDate": ...}, "startDate"),
    ({"startDate": "yesterday"}, "startDate"),
    ({"title": ""}, "title"),
    ({"status": "live"}, "status"),
])
def test_bad_input_is_400_naming_the_field_and_writes_nothing(api_for, admin_user, over, field):
    before = _counts()
    response = api_for(admin_user).post("/api/settings/banners", _body(**over), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert _counts() == before


def test_patch_cannot_move_end_before_start(api_for, admin_user):
    created = api_for(admin_user).post("/api/settings/banners", _body(), format="json").json()
    before = _counts()
    response = api_for(admin_user).patch(f"/api/settings/banners/{created['id']}",
                                         {"endDate": "2001-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 400 and "endDate" in response.json()["error"]["fields"]
    assert _counts() == before


def test_feed_schedule_priority_and_newest_first(api, api_for, admin_user):
    now = timezone.now()
    admin = api_for(admin_user)
    ids = {}
    for name, over in {
        "low": {"priority": 1},
        "high": {"priority": 50},
        "high_newer": {"priority": 50},
        "future": {"startDate": (now + timedelta(hours=2)).isoformat()},
        "ended": {"startDate": (now - timedelta(days=2)).isoformat(), "endDate": (now - timedelta(days=1)).isoformat()},
        "inactive": {"status": "inactive"},
        "search": {"placement": "search"},
        "open_ended": {"priority": 5, "endDate": None},
    }.items():
        response = admin.post("/api/settings/banners", _body(title=name, **over), format="json")
        assert response.status_code == 201, response.content
        ids[name] = response.json()["id"]

    feed = [b["title"] for b in api.get("/api/banners?placement=home").json()["results"]]
    assert feed == ["high_newer", "high", "open_ended", "low"]

    _drop_feed_cache()
    with time_machine.travel(now + timedelta(hours=3)):
        later = [b["title"] for b in api.get("/api/banners?placement=home").json()["results"]]
    assert later == ["high_newer", "high", "future", "open_ended", "low"]


def test_feed_needs_a_known_placement(api):
    assert api.get("/api/banners").status_code == 400
    response = api.get("/api/banners?placement=footer")
    assert response.status_code == 400 and "placement" in response.json()["error"]["fields"]


def test_feed_is_cached_and_dropped_on_every_change(api, api_for, admin_user, django_assert_num_queries,
                                                    django_capture_on_commit_callbacks):
    admin = api_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        banner = admin.post("/api/settings/banners", _body(), format="json").json()
    assert len(api.get("/api/banners?placement=home").json()["results"]) == 1
    with django_assert_num_queries(0):
        assert len(api.get("/api/banners?placement=home").json()["results"]) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert admin.patch(f"/api/settings/banners/{banner['id']}", {"title": "Renamed"}, format="json").status_code == 200
    assert api.get("/api/banners?placement=home").json()["results"][0]["title"] == "Renamed"

    with django_capture_on_commit_callbacks(execute=True):
        assert admin.delete(f"/api/settings/banners/{banner['id']}").status_code == 204
    assert api.get("/api/banners?placement=home").json()["results"] == []
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "banner.create", "banner.update", "banner.delete"]
    assert AuditLog.objects.get(action="banner.update").metadata == {"title": {"from": "Diwali sale", "to": "Renamed"}}
    assert list(EventOutbox.objects.order_by("id").values_list("payload__op", flat=True)) == [
        "created", "updated", "deleted"]


def test_cached_feed_expires_at_the_next_schedule_edge(api, api_for, admin_user):
    now = timezone.now()
    api_for(admin_user).post("/api/settings/banners",
                             _body(startDate=(now + timedelta(seconds=30)).isoformat()), format="json")
    assert api.get("/api/banners?placement=home").json()["results"] == []
    with time_machine.travel(now + timedelta(seconds=45)):
        assert len(api.get("/api/banners?placement=home").json()["results"]) == 1


def test_admin_list_detail_and_404(api_for, admin_user):
    admin = api_for(admin_user)
    created = admin.post("/api/settings/banners", _body(), format="json").json()
    listing = admin.get("/api/settings/banners").json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == created["id"]
    assert admin.get(f"/api/settings/banners/{created['id']}").json()["title"] == "Diwali sale"
    assert admin.get("/api/settings/banners/999999").status_code == 404
    assert admin.delete("/api/settings/banners/999999").status_code == 404


def test_public_feed_ignores_a_bad_token(api, api_for, admin_user):
    api_for(admin_user).post("/api/settings/banners", _body(), format="json")
    api.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    assert api.get("/api/banners?placement=home").status_code == 200


def test_django_admin_create_goes_through_the_service_and_preview_is_escaped(client, admin_user):
    client.force_login(admin_user)
    now = timezone.localtime()
    response = client.post("/admin/banners/banner/add/", {
        "placement": "home", "title": '<script>alert("x")</script>', "image_url": 'https://cdn.example.com/a.png?"onerror=x',
        "link": "", "start_date_0": now.strftime("%Y-%m-%d"), "start_date_1": now.strftime("%H:%M:%S"),
        "end_date_0": "", "end_date_1": "", "priority": "3", "status": "active"})
    assert response.status_code == 302, response.content[:2000]
    banner = Banner.objects.get()
    assert banner.created_by == admin_user
    assert AuditLog.objects.filter(action="banner.create", entity_id=str(banner.pk)).count() == 1
    page = client.get("/admin/banners/banner/").content.decode()
    assert '<script>alert("x")</script>' not in page
    assert "&lt;script&gt;" in page
    assert '"onerror' not in page and "&quot;onerror" in page


def test_django_admin_rejects_bad_scheme_and_end_before_start(client, admin_user):
    client.force_login(admin_user)
    now = timezone.localtime()
    response = client.post("/admin/banners/banner/add/", {
        "placement": "home", "title": "t", "image_url": "ftp://x.example.com/a.png", "link": "",
        "start_date_0": now.strftime("%Y-%m-%d"), "start_date_1": now.strftime("%H:%M:%S"),
        "end_date_0": "2000-01-01", "end_date_1": "00:00:00", "priority": "3", "status": "active"})
    assert response.status_code == 200
    assert Banner.objects.count() == 0 and AuditLog.objects.count() == 0
