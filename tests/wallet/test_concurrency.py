"""Concurrency on PostgreSQL with real threads (one connection each) released by a barrier."""
from functools import partial
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from wallet.models import IdempotencyKey, Payout, PayoutStatus, ReconciliationRun, Transaction, TransactionKind
from wallet.services import payout_request
from wallet.services.reconciliation import payout_reconciliation_run

from ..core.helpers import together
from .helpers import (
    PAYOUTS_URL, WEBHOOK_SECRET, balance_of, charge, fund, payable, post_refund, post_webhook, refund_body,
    webhook_body,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_threads(n: int, work):
    """work(0) .. work(n-1), each in its own thread, started together (tests.core.helpers.together)."""
    return together(*(partial(work, i) for i in range(n)))


def test_50_concurrent_refunds_with_one_key_credit_once(api_for, admin_user, seller):
    fund(seller, "500.00")
    charge(seller, "500.00", "listing-fee-1")
    clients = [api_for(admin_user) for _ in range(50)]
    body = refund_body(seller, "120.00", "listing-fee-1")

    responses = in_threads(50, lambda i: post_refund(clients[i], body, key="same-key"))

    assert not [r for r in responses if isinstance(r, Exception)], responses
    statuses = [r.status_code for r in responses]
    assert all(s in (201, 409) for s in statuses), statuses
    fresh = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    replays = [r for r in responses if r.status_code == 201 and r.get("Idempotent-Replayed") == "true"]
    assert len(fresh) == 1
    assert all(r.json() == fresh[0].json() for r in replays)
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_key_in_flight"
    assert balance_of(seller) == Decimal("120.00")
    assert Transaction.objects.filter(kind=TransactionKind.REFUND).count() == 1
    assert IdempotencyKey.objects.get(key="same-key").status == IdempotencyKey.Status.COMPLETED


@pytest.mark.slow  # 200 refunds from 25 threads
def test_200_concurrent_distinct_refunds_sum_exactly(api_for, admin_user, seller):
    threads, per_thread = 25, 8  # 200 refunds; 25 connections so other users of the server keep theirs
    clients = [api_for(admin_user) for _ in range(threads)]

    def work(t):
        out = []
        for j in range(per_thread):
            n = t * per_thread + j
            amount = f"{1 + n % 7}.{n % 100:02d}"
            out.append((amount, post_refund(clients[t], refund_body(seller, amount, f"gw-{n}"), key=f"k-{n}")))
        return out

    results = in_threads(threads, work)

    assert not [r for r in results if isinstance(r, Exception)], results
    pairs = [p for chunk in results for p in chunk]
    assert len(pairs) == 200
    assert [r.status_code for _, r in pairs].count(201) == 200
    expected = sum((Decimal(a) for a, _ in pairs), Decimal("0.00"))
    assert balance_of(seller) == expected
    out = StringIO()
    call_command("ledger_check", stdout=out)
    assert "ledger_check: OK" in out.getvalue()


def test_concurrent_refunds_against_one_charge_never_exceed_it(api_for, admin_user, seller):
    fund(seller, "100.00")
    charge(seller, "100.00", "listing-fee-9")
    clients = [api_for(admin_user) for _ in range(10)]

    responses = in_threads(10, lambda i: post_refund(clients[i], refund_body(seller, "30.00", "listing-fee-9"),
                                                     key=f"c-{i}"))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [422] * 7
    assert balance_of(seller) == Decimal("90.00")


def test_two_concurrent_payouts_of_80_on_100(api_for, seller, settings):
    settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "succeed"
    fund(seller, "100.00")
    payable(seller)
    clients = [api_for(seller) for _ in range(2)]

    responses = in_threads(2, lambda i: clients[i].post(PAYOUTS_URL, {"amount": "80.00"}, format="json",
                                                        HTTP_IDEMPOTENCY_KEY=f"payout-{i}"))

    assert sorted(r.status_code for r in responses) == [201, 409]
    assert [r.json()["error"]["code"] for r in responses if r.status_code == 409] == ["insufficient_funds"]
    assert balance_of(seller) == Decimal("20.00")
    assert Payout.objects.count() == 1
    call_command("ledger_check", stdout=StringIO())


def test_the_same_webhook_delivered_concurrently_credits_once(seller, settings):
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = webhook_body("payment.captured", {"id": "pay_conc", "amount": 1000, "currency": "INR",
                                             "notes": {"userId": str(seller.pk)}})

    responses = in_threads(10, lambda i: post_webhook(Client(), body, event_id=f"evt_{i % 2}"))

    assert sorted(r.json()["status"] for r in responses).count("processed") == 1
    assert all(r.status_code == 200 for r in responses)
    assert balance_of(seller) == Decimal("10.00")


def test_reconciliation_twice_at_once(seller, settings):
    settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "fail"
    fund(seller, "100.00")
    payable(seller)
    payouts = [payout_request(user=seller, amount=Decimal("10.00"))[0] for _ in range(3)]

    results = in_threads(2, lambda i: payout_reconciliation_run())

    assert not [r for r in results if isinstance(r, Exception)], results
    assert ReconciliationRun.objects.count() == 1
    assert set(Payout.objects.values_list("status", flat=True)) == {PayoutStatus.FAILED}
    assert Transaction.objects.filter(kind=TransactionKind.PAYOUT_REVERSAL).count() == len(payouts)
    assert balance_of(seller) == Decimal("100.00")
