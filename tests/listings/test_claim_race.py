"""Two moderators claim one listing at the same instant on PostgreSQL: exactly one wins.

Real threads, one database connection each, released together by a barrier; the row lock taken
by listings.claims.moderation_lock serializes them (docs/moderation.md)."""
from __future__ import annotations

import pytest

from audit.models import AuditLog
from core.errors import Conflict
from listings import claims, services
from listings.models import Listing
from outbox.models import EventOutbox

from ..core.helpers import together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("round_", range(5))
def test_two_moderators_claim_at_once_exactly_one_wins(listing, moderator, moderator2, round_):
    results = together(lambda: claims.listing_claim(listing_id=listing.pk, actor=moderator),
                       lambda: claims.listing_claim(listing_id=listing.pk, actor=moderator2))

    wins = [r for r in results if isinstance(r, Listing)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert (len(wins), len(losses)) == (1, 1), results
    assert losses[0].code == "listing_claimed"
    winner = wins[0].claimed_by_id
    assert Listing.objects.get(pk=listing.pk).claimed_by_id == winner
    assert list(AuditLog.objects.values_list("action", "user_id")) == [("listing.claim", winner)]
    assert EventOutbox.objects.filter(channel="moderation.claim").count() == 1


def test_claim_racing_a_decision_never_leaves_a_claim_on_a_decided_listing(listing, moderator, moderator2):
    results = together(lambda: services.listing_approve(listing_id=listing.pk, actor=moderator, expiry_days=30),
                       lambda: claims.listing_claim(listing_id=listing.pk, actor=moderator2))

    row = Listing.objects.get(pk=listing.pk)
    approve, claim = results
    if isinstance(approve, Listing):  # approval first: the claim finds it approved
        assert isinstance(claim, Conflict) and claim.code == "invalid_transition"
        assert (row.status, row.claimed_by_id) == ("approved", None)
    else:  # claim first: the approval is refused under moderator2's claim
        assert isinstance(approve, Conflict) and approve.code == "listing_claimed"
        assert (row.status, row.claimed_by_id) == ("pending", moderator2.pk)
