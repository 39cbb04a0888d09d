"""Payouts: request, gateway submission (fake gateway), state machine, reversal exactly once,
reconciliation."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from notifications.models import Notification
from outbox.models import EventOutbox
from wallet.models import (
    Account, Payout, PayoutStatus, Posting, ReconciliationMismatch, ReconciliationRun, Transaction, TransactionKind,
)
from wallet.services import payout_request, payout_submit, payout_transition
from wallet.services.reconciliation import payout_reconciliation_run
from wallet.tasks import payout_reconciliation_run as reconciliation_task

from .helpers import PAYOUTS_URL, balance_of, counts, fund, payable

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def seller_payout_account(seller):
    """Payouts go to the seller's active payout account, past its cool-off."""
    return payable(seller)


@pytest.fixture
def outcome(settings):
    def set_outcome(value: str):
        settings.PAYMENT_GATEWAY_FAKE_OUTCOME = value

    set_outcome("succeed")
    return set_outcome


def request_payout(client, amount, key="p-1"):
    return client.post(PAYOUTS_URL, {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_payout_debits_into_clearing_and_is_sent_after_commit(api_for, seller, outcome,
                                                              django_capture_on_commit_callbacks):
    fund(seller, "100.00")
    with django_capture_on_commit_callbacks(execute=True):
        response = request_payout(api_for(seller), "60.00")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"  # the answer is what committed; the gateway comes after
    payout = Payout.objects.get()
    assert (payout.status, payout.gateway_payout_id, payout.attempts) == (
        PayoutStatus.PROCESSING, f"pout_fake_dgt-payout-{payout.pk}", 1)
    assert balance_of(seller) == Decimal("40.00")
    tx = Transaction.objects.get(kind=TransactionKind.PAYOUT)
    assert sorted(Posting.objects.filter(transaction=tx).values_list("account", "amount")) == [
        (Account.PAYOUTS_CLEARING, Decimal("60.00")), (Account.WALLET, Decimal("-60.00"))]
    channels = list(EventOutbox.objects.filter(group=f"user.{seller.pk}").values_list("channel", flat=True))
    assert channels.count("payouts.update") == 2 and "wallet.balance" in channels
    listed = api_for(seller).get(PAYOUTS_URL).json()
    assert [(p["id"], p["amount"], p["status"]) for p in listed["results"]] == [(payout.pk, "60.00", "processing")]


def test_payout_replay_with_the_same_key_debits_once(api_for, seller, outcome):
    fund(seller, "100.00")
    client = api_for(seller)
    first = request_payout(client, "30.00")
    again = request_payout(client, "30.00")
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert request_payout(client, "31.00").status_code == 422
    assert balance_of(seller) == Decimal("70.00")


def test_payout_without_key_is_400(api_for, seller):
    fund(seller, "100.00")
    before = counts()
    response = api_for(seller).post(PAYOUTS_URL, {"amount": "1.00"}, format="json")
    assert response.status_code == 400
    assert counts() == before


def test_payout_over_balance_is_409_and_writes_nothing(api_for, seller):
    fund(seller, "100.00")
    before = counts()
    response = request_payout(api_for(seller), "100.01")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert counts() == before


def test_payout_with_no_wallet_is_409_and_writes_nothing(api_for, buyer):
    before = counts()
    assert request_payout(api_for(buyer), "1.00").status_code == 409
    assert counts() == before


@pytest.mark.parametrize("amount", ["0", "-5", "1.001", "NaN", True, None])
def test_bad_payout_amount_is_400(api_for, seller, amount):
    fund(seller, "10.00")
    before = counts()
    response = request_payout(api_for(seller), amount)
    assert response.status_code == 400 and "amount" in response.json()["error"]["fields"]
    assert counts() == before


def test_rejected_payout_fails_and_recredits_once(seller, outcome, django_capture_on_commit_callbacks):
    fund(seller, "100.00")
    outcome("reject")
    with django_capture_on_commit_callbacks(execute=True):
        payout, _ = payout_request(user=seller, amount=Decimal("80.00"))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert balance_of(seller) == Decimal("100.00")
    assert Transaction.objects.filter(kind=TransactionKind.PAYOUT_REVERSAL).count() == 1
    # a late webhook or reconciliation saying "failed" again moves nothing
    payout_transition(payout_id=payout.pk, status=PayoutStatus.FAILED, source="webhook")
    assert balance_of(seller) == Decimal("100.00")
    assert Notification.objects.filter(user=seller, template_key="payout_failed").count() == 1


def test_timeout_leaves_it_pending_then_reconciliation_completes_it(seller, outcome):
    fund(seller, "100.00")
    payout, _ = payout_request(user=seller, amount=Decimal("50.00"))
    outcome("timeout")
    payout = payout_submit(payout_id=payout.pk)
    assert (payout.status, payout.attempts) == (PayoutStatus.PENDING, 1)
    assert "GatewayTimeout" in payout.last_error
    outcome("succeed")
    result = payout_reconciliation_run()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert result == {"runDate": timezone.localdate().isoformat(), "checked": 1, "changed": 1, "mismatches": 0,
                      "errors": 0}
    settlement = Transaction.objects.get(kind=TransactionKind.PAYOUT_SETTLEMENT)
    assert sorted(Posting.objects.filter(transaction=settlement).values_list("account", "amount")) == [
        (Account.GATEWAY_CLEARING, Decimal("50.00")), (Account.PAYOUTS_CLEARING, Decimal("-50.00"))]
    assert balance_of(seller) == Decimal("50.00")


def test_final_states_never_move(seller, outcome):
    fund(seller, "100.00")
    payout, _ = payout_request(user=seller, amount=Decimal("10.00"))
    payout_transition(payout_id=payout.pk, status=PayoutStatus.COMPLETED, source="webhook")
    for status in (PayoutStatus.PENDING, PayoutStatus.PROCESSING, PayoutStatus.FAILED, PayoutStatus.REVERSED):
        _, changed = payout_transition(payout_id=payout.pk, status=status, source="webhook")
        assert changed is False
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert balance_of(seller) == Decimal("90.00")
    assert ReconciliationMismatch.objects.filter(payout=payout).count() == 2  # failed, reversed: once each
    payout_transition(payout_id=payout.pk, status=PayoutStatus.REVERSED, source="reconciliation")
    assert ReconciliationMismatch.objects.filter(payout=payout).count() == 2


def test_reversed_payout_recredits_once_and_notifies(seller, outcome, django_capture_on_commit_callbacks):
    fund(seller, "100.00")
    payout, _ = payout_request(user=seller, amount=Decimal("70.00"))
    with django_capture_on_commit_callbacks(execute=True):
        payout_transition(payout_id=payout.pk, status=PayoutStatus.PROCESSING, source="submit")
        payout_transition(payout_id=payout.pk, status=PayoutStatus.REVERSED, source="webhook", reason="bank returned")
    payout.refresh_from_db()
    assert (payout.status, payout.failure_reason) == (PayoutStatus.REVERSED, "bank returned")
    assert balance_of(seller) == Decimal("100.00")
    assert Notification.objects.filter(user=seller, template_key="payout_failed").count() == 1
    call_command("ledger_check")


def test_reconciliation_twice_for_the_same_date_records_once(seller, outcome):
    fund(seller, "100.00")
    payout, _ = payout_request(user=seller, amount=Decimal("20.00"))
    payout_submit(payout_id=payout.pk)
    payout_transition(payout_id=payout.pk, status=PayoutStatus.COMPLETED, source="webhook")
    Payout.objects.filter(pk=payout.pk).update(updated_at=timezone.now() - timedelta(days=1))
    outcome("reverse")  # the gateway now says reversed: a contradiction of our final state
    first = reconciliation_task.apply().get()
    second = reconciliation_task.apply().get()
    assert first["checked"] == second["checked"] == 1
    assert ReconciliationRun.objects.count() == 1
    assert ReconciliationMismatch.objects.filter(payout=payout, gateway_status="reversed").count() == 1
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert balance_of(seller) == Decimal("80.00")


def test_runjob_runs_reconciliation(capsys, seller, outcome):
    call_command("runjob", "payout_reconciliation")
    assert "payout_reconciliation: {\"runDate\"" in capsys.readouterr().out
