"""Top-ups and payout accounts under concurrency: PostgreSQL, real threads (one connection each)
released together by a barrier."""
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from wallet.models import PayoutAccount, PayoutAccountStatus, TopupOrder, TopupStatus, Transaction, TransactionKind

from .test_concurrency import in_threads
from .helpers import (
    ACCOUNTS_URL, BANK, WEBHOOK_SECRET, balance_of, create_topup, pay, post_webhook, verify, webhook_body,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_50_concurrent_verifies_of_one_payment_credit_once(api_for, seller):
    order = create_topup(api_for(seller), "500.70").json()
    payment_id, signature = pay(order["orderId"])
    clients = [api_for(seller) for _ in range(50)]

    results = in_threads(50, lambda i: verify(clients[i], order["orderId"], payment_id, signature))

    assert not [r for r in results if isinstance(r, Exception)], results
    assert [r.status_code for r in results] == [200] * 50
    assert {r.json()["status"] for r in results} == {"paid"}
    assert balance_of(seller) == Decimal("500.70")
    assert Transaction.objects.filter(kind=TransactionKind.TOPUP).count() == 1
    call_command("ledger_check", stdout=StringIO())


def test_verify_and_webhook_of_one_payment_at_the_same_moment_credit_once(api_for, seller, settings):
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    rounds = 8
    orders = [create_topup(api_for(seller), "10.00", key=f"k-{n}").json()["orderId"] for n in range(rounds)]
    for n, order_id in enumerate(orders):
        payment_id, signature = pay(order_id)
        body = webhook_body("payment.captured", {"id": payment_id, "entity": "payment", "amount": 1000,
                                                 "currency": "INR", "status": "captured", "order_id": order_id})
        user = api_for(seller)

        verified, hooked = in_threads(2, lambda i: verify(user, order_id, payment_id, signature) if i == 0
                                      else post_webhook(Client(), body, event_id=f"evt_{n}"))

        assert verified.status_code == 200 and verified.json()["status"] == "paid", verified.json()
        assert hooked.status_code == 200 and hooked.json()["status"] in ("processed", "no_change")
        row = TopupOrder.objects.get(gateway_order_id=order_id)
        assert (row.status, row.payment_id) == (TopupStatus.PAID, payment_id)
        assert (hooked.json()["status"] == "processed") is (row.paid_via == "webhook")

    assert balance_of(seller) == Decimal("10.00") * rounds
    assert Transaction.objects.filter(kind=TransactionKind.TOPUP).count() == rounds
    call_command("ledger_check", stdout=StringIO())


def test_two_accounts_added_at_once_leave_one_active(api_for, seller):
    clients = [api_for(seller) for _ in range(2)]
    bodies = [BANK, {"vpa": "asha.verma@okhdfcbank"}]

    results = in_threads(2, lambda i: clients[i].post(ACCOUNTS_URL, bodies[i], format="json"))

    assert [r.status_code for r in results] == [201, 201]
    assert PayoutAccount.objects.filter(user=seller, status=PayoutAccountStatus.ACTIVE).count() == 1
    assert PayoutAccount.objects.filter(user=seller, status=PayoutAccountStatus.REPLACED).count() == 1


def test_two_topups_at_once_cannot_pass_the_daily_limit_together(api_for, seller, settings):
    settings.TOPUP_DAILY_MAX = Decimal("1000.00")
    clients = [api_for(seller) for _ in range(2)]

    results = in_threads(2, lambda i: create_topup(clients[i], "600.00", key=f"day-{i}"))

    assert sorted(r.status_code for r in results) == [201, 422]
    assert [r.json()["error"]["code"] for r in results if r.status_code == 422] == ["topup_daily_limit_exceeded"]
    assert TopupOrder.objects.filter(user=seller).count() == 1
