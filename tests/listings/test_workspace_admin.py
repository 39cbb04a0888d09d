"""The moderation workspace in Django admin, server side: queue, listing page, claim on open,
decisions, Next, admin release, canned reasons admin, dashboard numbers and branding."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditLog
from listings import claims, services
from listings.models import CannedReason, ListingStatus
from core.stats import stats_snapshot

from .helpers import claim_state, written

pytestmark = pytest.mark.django_db

BASE = "/admin/listings/moderationqueue/"


@pytest.fixture
def browser_of(client):
    from django.test import Client

    def login(user):
        c = Client()
        c.force_login(user)
        return c

    return login


def test_queue_page_lists_oldest_first_highlights_past_sla_and_shows_claims(browser_of, moderator, moderator2,
                                                                            make_pending, settings):
    settings.MODERATION_SLA_MINUTES = 60
    late = make_pending(timedelta(hours=2), title="Late sofa")
    fresh = make_pending(timedelta(minutes=5), title="Fresh phone")
    claims.listing_claim(listing_id=fresh.pk, actor=moderator2)

    html = browser_of(moderator).get(BASE).content.decode()

    assert html.index("Late sofa") < html.index("Fresh phone")
    assert re.search(rf'class="queue-row sla-breached"\s+data-listing-id="{late.pk}"', html)
    assert re.search(rf'class="queue-row claimed-other"\s+data-listing-id="{fresh.pk}"', html)
    assert "Being reviewed by <strong class=\"claimant\">moderator2</strong>" in html
    assert "2 pending" in html
    assert "<title>Moderation queue | dgt back office</title>" in html


def test_queue_page_filters_and_partial(browser_of, moderator, make_pending, buyer):
    make_pending(title="Phone", category="electronics")
    make_pending(title="Scooter", category="vehicles", owner=buyer)
    page = browser_of(moderator).get(BASE, {"category": "vehicles", "partial": "1"})
    html = page.content.decode()
    assert "Scooter" in html and "Phone" not in html
    assert "<html" not in html  # the live part only


def test_queue_preview_shows_the_sellers_earlier_decisions(browser_of, moderator, make_pending, seller):
    earlier = make_pending(title="Old lamp")
    services.listing_reject(listing_id=earlier.pk, actor=moderator, reason="Blurry photos")
    make_pending(title="New lamp")
    html = browser_of(moderator).get(BASE).content.decode()
    assert "rejected</span>" in html and "Old lamp" in html and "Blurry photos" in html


def test_opening_claims_and_the_listing_page_offers_decisions_and_shortcuts(browser_of, moderator, listing):
    client = browser_of(moderator)
    response = client.post(f"{BASE}{listing.pk}/claim/")
    assert response.status_code == 302 and response.url == f"{BASE}{listing.pk}/"
    assert claim_state(listing.pk)[1] == moderator.pk

    html = client.get(response.url).content.decode()
    assert "You are reviewing this listing until" in html
    assert re.search(r'<fieldset id="decisions"\s*>', html)  # enabled
    assert "Keyboard shortcuts" in html and "<kbd>A</kbd>" in html and "<kbd>R</kbd>" in html
    assert "<kbd>N</kbd>" in html


def test_listing_page_under_anothers_claim_disables_decisions(browser_of, moderator, moderator2, admin_user, listing):
    claims.listing_claim(listing_id=listing.pk, actor=moderator2)
    html = browser_of(moderator).get(f"{BASE}{listing.pk}/").content.decode()
    assert "Being reviewed by moderator2 until" in html
    assert 'id="decisions" disabled' in html
    assert 'id="admin-release-form" class="mod-inline" hidden' in html
    admin_html = browser_of(admin_user).get(f"{BASE}{listing.pk}/").content.decode()
    assert 'id="admin-release-form" class="mod-inline">' in admin_html


def test_approve_and_reject_from_the_listing_page(browser_of, moderator, make_pending, canned):
    a, b = make_pending(title="A"), make_pending(title="B")
    client = browser_of(moderator)
    client.post(f"{BASE}{a.pk}/claim/")
    done = client.post(f"{BASE}{a.pk}/decide/", {"decision": "approve", "expiry_days": "14", "reason": ""})
    assert done.status_code == 302 and done.url == BASE
    a.refresh_from_db()
    assert (a.status, a.claimed_by_id, (a.expires_at - a.approved_at).days) == ("approved", None, 14)

    client.post(f"{BASE}{b.pk}/decide/", {"decision": "reject", "reason_id": str(canned.pk), "reason": "Also dark."})
    b.refresh_from_db()
    assert (b.status, b.reason) == ("rejected", "Please add clear photos.\nAlso dark.")
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "listing.claim", "listing.approve", "listing.reject"]


def test_decision_from_the_page_under_anothers_claim_is_refused(browser_of, moderator, moderator2, listing):
    claims.listing_claim(listing_id=listing.pk, actor=moderator2)
    before = written()
    response = browser_of(moderator).post(f"{BASE}{listing.pk}/decide/", {"decision": "approve", "expiry_days": "30"},
                                          follow=True)
    assert "being reviewed by moderator2" in response.content.decode()
    assert written() == before
    assert claim_state(listing.pk)[:2] == (ListingStatus.PENDING, moderator2.pk)


def test_reject_from_the_page_needs_a_reason(browser_of, moderator, listing):
    response = browser_of(moderator).post(f"{BASE}{listing.pk}/decide/", {"decision": "reject", "reason": " "},
                                          follow=True)
    assert "Pick a canned reason or write one." in response.content.decode()
    assert written() == (0, 0, 0)


def test_next_claims_the_oldest_unclaimed_and_skips_the_current(browser_of, moderator, moderator2, make_pending):
    oldest = make_pending(timedelta(hours=3))
    second = make_pending(timedelta(hours=2))
    third = make_pending(timedelta(hours=1))
    claims.listing_claim(listing_id=oldest.pk, actor=moderator2)
    client = browser_of(moderator)

    first = client.post(f"{BASE}next/")
    assert first.url == f"{BASE}{second.pk}/"
    skipped = client.post(f"{BASE}next/", {"skip": str(second.pk)})
    assert skipped.url == f"{BASE}{third.pk}/"
    assert claim_state(second.pk)[1] is None  # released when skipped
    assert claim_state(third.pk)[1] == moderator.pk


def test_next_with_nothing_unclaimed_goes_back_to_the_queue(browser_of, moderator):
    response = browser_of(moderator).post(f"{BASE}next/")
    assert response.url == BASE


def test_admin_releases_anyones_claim_from_the_queue(browser_of, moderator, moderator2, admin_user, listing):
    claims.listing_claim(listing_id=listing.pk, actor=moderator2)
    browser_of(moderator).post(f"{BASE}{listing.pk}/release/")
    assert claim_state(listing.pk)[1] == moderator2.pk
    browser_of(admin_user).post(f"{BASE}{listing.pk}/release/")
    assert claim_state(listing.pk)[1] is None


@pytest.mark.parametrize("path", ["", "1/"])
def test_workspace_is_closed_to_sellers_and_anonymous(client, browser_of, seller, path, listing):
    assert client.get(BASE + path).status_code == 302  # to the login page
    seller.is_staff = True
    seller.save()
    response = browser_of(seller).get(BASE + path)  # staff, but not a moderator: refused, not sent to log in
    assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")


def test_actions_need_post(browser_of, moderator, listing):
    assert browser_of(moderator).get(f"{BASE}{listing.pk}/claim/").status_code == 405
    assert claim_state(listing.pk)[1] is None


def test_canned_reasons_are_admin_managed_and_audited(browser_of, admin_user, moderator):
    admin = browser_of(admin_user)
    response = admin.post("/admin/listings/cannedreason/add/",
                          {"code": "spam", "title": "Spam", "text": "Looks like spam.", "position": "1", "active": "on"})
    assert response.status_code == 302
    reason = CannedReason.objects.get(code="spam")
    assert AuditLog.objects.get().action == "canned_reason.create"
    assert browser_of(moderator).get(f"/admin/listings/cannedreason/{reason.pk}/change/").status_code == 200
    assert browser_of(moderator).post("/admin/listings/cannedreason/add/", {"code": "x", "title": "X", "text": "X",
                                                                             "position": "2"}).status_code == 403
    assert CannedReason.objects.count() == 1


def test_dashboard_numbers_queue_age_and_decisions_today(moderator, moderator2, make_pending):
    make_pending(timedelta(hours=1, minutes=5, seconds=30))
    a, b, c = make_pending(), make_pending(), make_pending()
    services.listing_approve(listing_id=a.pk, actor=moderator, expiry_days=30)
    services.listing_reject(listing_id=b.pk, actor=moderator, reason="Spam")
    services.listing_approve(listing_id=c.pk, actor=moderator2, expiry_days=30)

    snapshot = stats_snapshot()

    assert snapshot["pendingListings"] == 1
    assert snapshot["oldestPendingAge"] == "1 h 05 min"
    assert snapshot["decisionsToday"] == {"moderator": 2, "moderator2": 1}
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert stats_snapshot()["decisionsToday"] == {}


def test_branding_and_view_site(browser_of, moderator):
    html = browser_of(moderator).get("/admin/").content.decode()
    assert "dgt back office" in html and "Django administration" not in html
    assert 'href="/api/docs"' in html and "View site" not in html
    assert f'href="{BASE}"' in html  # the queue from every page's header
    assert 'data-stat="oldestPendingAge"' in html and 'data-stat="decisionsToday"' in html


def test_bulk_reject_in_the_listing_table_offers_canned_reasons(browser_of, moderator, make_pending, canned):
    a, b = make_pending(), make_pending()
    client = browser_of(moderator)
    form = client.post("/admin/listings/listing/", {"action": "reject_selected", "_selected_action": [a.pk]})
    assert "1. Poor photos" in form.content.decode()
    client.post("/admin/listings/listing/", {"action": "reject_selected", "_selected_action": [a.pk, b.pk],
                                             "apply": "1", "reason_id": str(canned.pk), "reason": ""})
    assert {(x.status, x.reason) for x in (a.__class__.objects.filter(pk__in=[a.pk, b.pk]))} == {
        ("rejected", "Please add clear photos.")}


def test_a_moderators_own_listing_is_not_offered_to_them(browser_of, moderator, make_pending):
    own = make_pending(owner=moderator, title="My own bike")
    html = browser_of(moderator).get(BASE).content.decode()
    row = html[html.index(f'data-listing-id="{own.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "Your listing" in row and "open-button" not in row
