"""Claim, release and decisions under claims, through the services (docs/moderation.md)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditLog
from core.errors import Conflict, Forbidden, ValidationFailed
from listings import claims, services
from listings.models import ListingStatus
from outbox.models import EventOutbox

from .factories import ListingFactory
from .helpers import claim_state, written

pytestmark = pytest.mark.django_db


def test_claim_sets_holder_and_deadline_audits_and_publishes_to_admin(listing, moderator, settings):
    settings.MODERATION_CLAIM_MINUTES = 7
    updated_before = listing.updated_at
    with time_machine.travel("2026-12-01 10:00:00+00:00", tick=False):
        claimed = claims.listing_claim(listing_id=listing.pk, actor=moderator)

    assert claimed.claimed_by_id == moderator.pk
    assert claimed.claimed_until.isoformat() == "2026-12-01T10:07:00+00:00"
    listing.refresh_from_db()
    assert listing.updated_at == updated_before  # a claim does not touch the seller's listing
    audit = AuditLog.objects.get()
    assert (audit.action, audit.entity_id, audit.user_id) == ("listing.claim", str(listing.pk), moderator.pk)
    assert audit.metadata == {"claimedUntil": "2026-12-01T10:07:00+00:00", "renewed": False}
    event = EventOutbox.objects.get()
    assert (event.channel, event.group) == ("moderation.claim", "admin")
    assert event.payload == {"listingId": listing.pk, "action": "claim",
                             "claimedBy": {"id": moderator.pk, "username": "moderator"},
                             "claimedUntil": "2026-12-01T10:07:00Z", "by": {"id": moderator.pk, "username": "moderator"}}


def test_claim_under_another_moderators_live_claim_is_refused_and_writes_nothing(listing, moderator, moderator2):
    claims.listing_claim(listing_id=listing.pk, actor=moderator)
    before, state = written(), claim_state(listing.pk)

    with pytest.raises(Conflict) as exc:
        claims.listing_claim(listing_id=listing.pk, actor=moderator2)

    assert exc.value.code == "listing_claimed"
    assert "moderator" in exc.value.message
    assert written() == before
    assert claim_state(listing.pk) == state


def test_claiming_again_renews_ones_own_claim(listing, moderator):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        claims.listing_claim(listing_id=listing.pk, actor=moderator)
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        renewed = claims.listing_claim(listing_id=listing.pk, actor=moderator)

    assert renewed.claimed_until == start + timedelta(minutes=3 + 5)
    assert [a.metadata["renewed"] for a in AuditLog.objects.order_by("id")] == [False, True]


def test_an_expired_claim_is_no_claim(listing, moderator, moderator2):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        claims.listing_claim(listing_id=listing.pk, actor=moderator)
    with time_machine.travel(start + timedelta(minutes=5), tick=False):  # claimed_until is exclusive
        taken = claims.listing_claim(listing_id=listing.pk, actor=moderator2)
    assert taken.claimed_by_id == moderator2.pk

    with time_machine.travel(start + timedelta(minutes=10, seconds=1), tick=False):
        approved = services.listing_approve(listing_id=listing.pk, actor=moderator, reason="", expiry_days=30)
    assert approved.status == ListingStatus.APPROVED


def test_claim_refuses_own_and_decided_listings(moderator, listing):
    own = ListingFactory(owner=moderator)
    with pytest.raises(Forbidden):
        claims.listing_claim(listing_id=own.pk, actor=moderator)
    services.listing_reject(listing_id=listing.pk, actor=moderator, reason="Spam")
    before = written()
    with pytest.raises(Conflict) as exc:
        claims.listing_claim(listing_id=listing.pk, actor=moderator)
    assert exc.value.code == "invalid_transition"
    assert written() == before


@pytest.mark.parametrize("decide", [
    lambda pk, actor: services.listing_approve(listing_id=pk, actor=actor, reason="ok", expiry_days=30),
    lambda pk, actor: services.listing_reject(listing_id=pk, actor=actor, reason="Spam"),
], ids=["approve", "reject"])
def test_decisions_under_another_moderators_claim_are_refused_with_nothing_written(listing, moderator, moderator2,
                                                                                  decide):
    claims.listing_claim(listing_id=listing.pk, actor=moderator)
    before, state = written(), claim_state(listing.pk)

    with pytest.raises(Conflict) as exc:
        decide(listing.pk, moderator2)

    assert exc.value.code == "listing_claimed"
    assert written() == before
    assert claim_state(listing.pk) == state
    assert claim_state(listing.pk)[0] == ListingStatus.PENDING


def test_the_claimants_decision_ends_the_claim(listing, moderator, django_capture_on_commit_callbacks):
    claims.listing_claim(listing_id=listing.pk, actor=moderator)
    with django_capture_on_commit_callbacks(execute=True):
        services.listing_approve(listing_id=listing.pk, actor=moderator, reason="ok", expiry_days=10)

    assert claim_state(listing.pk) == (ListingStatus.APPROVED, None, None)
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == ["listing.claim", "listing.approve"]


def test_holder_releases_own_claim(listing, moderator):
    claims.listing_claim(listing_id=listing.pk, actor=moderator)
    claims.listing_release(listing_id=listing.pk, actor=moderator)

    assert claim_state(listing.pk) == (ListingStatus.PENDING, None, None)
    release = AuditLog.objects.order_by("-id").first()
    assert (release.action, release.metadata) == ("listing.release", {"claimedBy": moderator.pk,
                                                                        "claimedByUsername": "moderator"})
    event = EventOutbox.objects.order_by("-id").first()
    assert (event.channel, event.payload["action"], event.payload["claimedBy"]) == ("moderation.claim", "release", None)


def test_moderator_cannot_release_anothers_claim_but_an_admin_can(listing, moderator, moderator2, admin_user):
    claims.listing_claim(listing_id=listing.pk, actor=moderator)
    before, state = written(), claim_state(listing.pk)
    with pytest.raises(Conflict) as exc:
        claims.listing_release(listing_id=listing.pk, actor=moderator2)
    assert exc.value.code == "listing_claimed"
    assert (written(), claim_state(listing.pk)) == (before, state)

    claims.listing_release(listing_id=listing.pk, actor=admin_user)

    assert claim_state(listing.pk)[1:] == (None, None)
    release = AuditLog.objects.order_by("-id").first()
    assert (release.action, release.user_id, release.metadata["claimedBy"]) == ("listing.release", admin_user.pk,
                                                                                 moderator.pk)
    assert EventOutbox.objects.order_by("-id").first().payload["by"] == {"id": admin_user.pk, "username": "admin"}


def test_releasing_an_unclaimed_listing_writes_nothing(listing, moderator):
    claims.listing_release(listing_id=listing.pk, actor=moderator)
    assert written() == (0, 0, 0)


def test_reject_with_a_canned_reason_and_free_text(listing, moderator, canned):
    rejected = services.listing_reject(listing_id=listing.pk, actor=moderator, reason=" Blurry. ", reason_id=canned.pk)

    assert rejected.reason == "Please add clear photos.\nBlurry."
    audit = AuditLog.objects.get()
    assert (audit.reason, audit.metadata) == (rejected.reason, {"reasonId": canned.pk, "reasonCode": "poor-photos"})
    assert services.listing_reject(listing_id=ListingFactory().pk, actor=moderator,
                                   reason_id=canned.pk).reason == "Please add clear photos."


def test_reject_with_an_inactive_canned_reason_is_refused(listing, moderator, canned):
    canned.active = False
    canned.save()
    with pytest.raises(ValidationFailed) as exc:
        services.listing_reject(listing_id=listing.pk, actor=moderator, reason_id=canned.pk)
    assert exc.value.fields == {"reasonId": "Unknown or inactive canned reason."}
    assert written() == (0, 0, 0)
    assert claim_state(listing.pk)[0] == ListingStatus.PENDING
