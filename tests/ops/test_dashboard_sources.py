"""What feeds the live admin dashboard from other apps: wallet numbers (wallet/stats.py through
the core.stats registry) and the `payout.failed` alert."""
from __future__ import annotations

from decimal import Decimal

import pytest

from outbox.models import EventOutbox
from core.stats import register_stat, stats_snapshot
from wallet.models import PayoutStatus
from wallet.services import payout_request

from ..wallet.helpers import fund, payable

pytestmark = pytest.mark.django_db


@pytest.fixture
def outcome(settings):
    settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "reject"


def test_snapshot_has_every_panel_number(seller):
    snapshot = stats_snapshot()
    assert {"pendingListings", "refundsToday", "failedPayouts", "outboxPending", "outboxFailed", "queueDepths",
            "layerDrops"} <= set(snapshot)
    assert (snapshot["refundsToday"], snapshot["failedPayouts"]) == (0, 0)


def test_failed_payout_raises_an_alert_and_counts(seller, outcome, django_capture_on_commit_callbacks):
    fund(seller, "100.00")
    payable(seller)
    with django_capture_on_commit_callbacks(execute=True):
        payout, _ = payout_request(user=seller, amount=Decimal("80.00"))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    [alert] = EventOutbox.objects.filter(channel="admin.alert", payload__kind="payout.failed")
    assert alert.group == "admin"
    assert (alert.payload["payoutId"], alert.payload["userId"], alert.payload["amount"]) == (payout.pk, seller.pk,
                                                                                             "80.00")
    assert stats_snapshot()["failedPayouts"] == 1


def test_a_failing_provider_is_none_and_does_not_break_the_others(monkeypatch):
    from core import stats

    monkeypatch.setattr(stats, "_providers", dict(stats._providers))

    def broken():
        raise RuntimeError("boom")

    register_stat("broken", broken)
    snapshot = stats_snapshot()
    assert snapshot["broken"] is None
    assert snapshot["outboxPending"] == 0
