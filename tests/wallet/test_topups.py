"""Top-ups through the fake gateway: order, Checkout verify, webhooks, limits, authorization.
Runs in both modes (SQLite embedded, PostgreSQL with services)."""
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from notifications.models import Notification
from outbox.models import EventOutbox
from wallet.models import TopupOrder, TopupStatus, Transaction, TransactionKind

from .helpers import (
    TOPUPS_URL, WEBHOOK_SECRET, balance_of, create_topup, pay, post_webhook, snapshot, verify, webhook_body,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.fixture
def order(api_for, seller):
    response = create_topup(api_for(seller), "500.70")
    assert response.status_code == 201, response.json()
    return response.json()


def test_topup_creates_an_order_for_checkout(api_for, seller):
    response = create_topup(api_for(seller), "500.70")

    assert response.status_code == 201
    body = response.json()
    assert body["orderId"].startswith("order_fake_")
    assert (body["amount"], body["currency"], body["keyId"], body["status"], body["paymentId"]) == (
        "500.70", "INR", "rzp_test_fake", "created", None)
    order = TopupOrder.objects.get()
    assert (order.user_id, order.amount, order.gateway_order_id, order.idempotency_key) == (
        seller.pk, Decimal("500.70"), body["orderId"], "topup-1")
    assert balance_of(seller) == Decimal("0.00")


def test_the_same_idempotency_key_replays_the_order(api_for, seller):
    client = api_for(seller)
    first = create_topup(client, "100.00", key="k")
    again = create_topup(client, "100.00", key="k")
    other_body = create_topup(client, "200.00", key="k")

    assert (first.status_code, again.status_code, other_body.status_code) == (201, 201, 422)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    assert TopupOrder.objects.count() == 1


@pytest.mark.parametrize("amount, status, code", [
    ("0.50", 422, "topup_amount_out_of_range"),
    ("50000.01", 422, "topup_amount_out_of_range"),
    ("0", 400, "invalid"),
    ("-5.00", 400, "invalid"),
    ("1.001", 400, "invalid"),
    ("NaN", 400, "invalid"),
])
def test_bad_amounts_create_nothing(api_for, seller, amount, status, code):
    before = snapshot()
    response = create_topup(api_for(seller), amount)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert snapshot() == before


def test_missing_idempotency_key_is_400_and_creates_nothing(api_for, seller):
    before = snapshot()
    response = api_for(seller).post(TOPUPS_URL, {"amount": "10.00"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "idempotency_key_required")
    assert snapshot() == before


def test_daily_limit_counts_every_order_of_the_day(api_for, seller, settings):
    settings.TOPUP_DAILY_MAX = Decimal("1000.00")
    client = api_for(seller)
    assert create_topup(client, "600.00", key="a").status_code == 201
    before = snapshot()

    response = create_topup(client, "400.01", key="b")

    assert response.status_code == 422
    assert response.json()["error"] == {"code": "topup_daily_limit_exceeded",
                                        "message": "Top-ups are limited to 1000.00 INR per day (left today: 400.00).",
                                        "fields": {"amount": "At most 400.00 today."}}
    assert snapshot() == before
    assert create_topup(client, "400.00", key="c").status_code == 201


def test_verify_credits_the_wallet_once_with_event_and_notification(api_for, seller, order,
                                                                   django_capture_on_commit_callbacks):
    client = api_for(seller)
    payment_id, signature = pay(order["orderId"])

    with django_capture_on_commit_callbacks(execute=True):
        response = verify(client, order["orderId"], payment_id, signature)
    again = verify(client, order["orderId"], payment_id, signature)

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["paymentId"]) == ("paid", payment_id)
    assert again.status_code == 200 and again.json() == response.json()
    assert balance_of(seller) == Decimal("500.70")
    [credit] = Transaction.objects.filter(kind=TransactionKind.TOPUP)
    assert (credit.wallet_id, credit.amount, credit.ref_id, credit.unique_key) == (
        seller.pk, Decimal("500.70"), order["orderId"], f"topup:{payment_id}")
    [event] = EventOutbox.objects.filter(channel="wallet.balance")
    assert (event.group, event.payload) == (f"user.{seller.pk}", {"balance": "500.70", "transactionId": credit.pk})
    assert Notification.objects.filter(user=seller, template_key="topup_credited").exists()
    row = TopupOrder.objects.get()
    assert (row.status, row.paid_via, row.transaction_id) == (TopupStatus.PAID, "verify", credit.pk)
    call_command("ledger_check", stdout=StringIO())


def test_wrong_signature_changes_nothing(api_for, seller, order):
    payment_id, signature = pay(order["orderId"])
    before = snapshot()

    response = verify(api_for(seller), order["orderId"], payment_id, signature[:-1] + ("0" if signature[-1] != "0"
                                                                                     else "1"))

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_signature")
    assert snapshot() == before


def test_a_signature_of_another_order_is_refused(api_for, seller, order):
    other = create_topup(api_for(seller), "500.70", key="other").json()
    payment_id, signature = pay(other["orderId"])
    before = snapshot()

    response = verify(api_for(seller), order["orderId"], payment_id, signature)

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_signature")
    assert snapshot() == before


def test_another_users_order_is_404_and_changes_nothing(api_for, seller, buyer, order):
    payment_id, signature = pay(order["orderId"])
    before = snapshot()

    response = verify(api_for(buyer), order["orderId"], payment_id, signature)
    listed = api_for(buyer).get(TOPUPS_URL).json()

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert snapshot() == before
    assert listed["count"] == 0
    assert (balance_of(seller), balance_of(buyer)) == (Decimal("0.00"), Decimal("0.00"))


def test_anonymous_cannot_create_or_verify(api, order):
    before = snapshot()
    assert create_topup(api, "10.00").status_code == 401
    assert verify(api, order["orderId"], *pay(order["orderId"])).status_code == 401
    assert snapshot() == before


@pytest.mark.parametrize("amount, status, http, code", [
    ("500.00", "captured", 422, "payment_mismatch"),
    (None, "failed", 422, "payment_failed"),
    (None, "authorized", 409, "payment_not_captured"),
])
def test_a_payment_that_is_not_a_capture_of_the_order_amount_credits_nothing(api_for, seller, order, amount, status,
                                                                             http, code):
    payment_id, signature = pay(order["orderId"], amount=amount, status=status)
    before = snapshot()

    response = verify(api_for(seller), order["orderId"], payment_id, signature)

    assert (response.status_code, response.json()["error"]["code"]) == (http, code)
    assert snapshot() == before


def test_webhook_first_then_verify_credits_once(api_for, seller, order, client):
    payment_id, signature = pay(order["orderId"])
    body = webhook_body("payment.captured", {"id": payment_id, "entity": "payment", "amount": 50070,
                                             "currency": "INR", "status": "captured", "order_id": order["orderId"]})

    hook = post_webhook(client, body, event_id="evt_1")
    response = verify(api_for(seller), order["orderId"], payment_id, signature)

    assert hook.json() == {"status": "processed"}
    assert response.status_code == 200 and response.json()["status"] == "paid"
    assert balance_of(seller) == Decimal("500.70")
    assert Transaction.objects.filter(kind=TransactionKind.TOPUP).count() == 1
    assert TopupOrder.objects.get().paid_via == "webhook"


def test_verify_first_then_order_paid_webhook_changes_nothing(api_for, seller, order, client):
    payment_id, signature = pay(order["orderId"])
    assert verify(api_for(seller), order["orderId"], payment_id, signature).status_code == 200
    payment = {"id": payment_id, "entity": "payment", "amount": 50070, "currency": "INR", "status": "captured",
               "order_id": order["orderId"]}
    body = json.dumps({"entity": "event", "event": "order.paid", "contains": ["payment", "order"],
                       "payload": {"payment": {"entity": payment},
                                   "order": {"entity": {"id": order["orderId"], "entity": "order", "amount": 50070,
                                                        "status": "paid"}}}}).encode()
    before = snapshot()

    hook = post_webhook(client, body, event_id="evt_2")

    assert hook.json() == {"status": "no_change"}
    after = snapshot()
    assert after.pop("webhooks") == before.pop("webhooks") + 1
    assert after == before
    assert balance_of(seller) == Decimal("500.70")


def test_webhook_with_another_amount_credits_nothing_and_alerts(seller, order, client):
    payment_id, _ = pay(order["orderId"], amount="1.00")
    body = webhook_body("payment.captured", {"id": payment_id, "entity": "payment", "amount": 100,
                                             "currency": "INR", "status": "captured", "order_id": order["orderId"]})

    hook = post_webhook(client, body, event_id="evt_3")

    assert hook.json() == {"status": "ignored"}
    assert balance_of(seller) == Decimal("0.00")
    assert TopupOrder.objects.get().status == TopupStatus.CREATED
    assert EventOutbox.objects.filter(channel="admin.alert", payload__kind="webhook_ignored").count() == 1


def test_failed_payment_webhook_credits_nothing(seller, order, client):
    payment_id, _ = pay(order["orderId"], status="failed")
    body = webhook_body("payment.failed", {"id": payment_id, "entity": "payment", "amount": 50070,
                                           "currency": "INR", "status": "failed", "order_id": order["orderId"]})

    assert post_webhook(client, body, event_id="evt_4").json() == {"status": "no_change"}
    assert balance_of(seller) == Decimal("0.00")
    assert TopupOrder.objects.get().status == TopupStatus.CREATED


def test_list_shows_own_orders_newest_first(api_for, seller, order):
    second = create_topup(api_for(seller), "10.00", key="second").json()
    payment_id, signature = pay(second["orderId"])
    verify(api_for(seller), second["orderId"], payment_id, signature)

    listed = api_for(seller).get(TOPUPS_URL).json()

    assert listed["count"] == 2
    assert [(o["orderId"], o["status"]) for o in listed["results"]] == [(second["orderId"], "paid"),
                                                                        (order["orderId"], "created")]


def test_fake_pay_command_prints_what_checkout_returns(api_for, seller, order):
    out = StringIO()
    call_command("topup_fake_pay", order["orderId"], stdout=out)
    paid = json.loads(out.getvalue())

    response = verify(api_for(seller), order["orderId"], paid["paymentId"], paid["signature"])

    assert response.status_code == 200 and response.json()["status"] == "paid"
    assert balance_of(seller) == Decimal("500.70")


def test_fake_pay_command_can_deliver_the_webhook(api_for, seller, order):
    call_command("topup_fake_pay", order["orderId"], "--webhook", stdout=StringIO(), stderr=StringIO())

    assert TopupOrder.objects.get().paid_via == "webhook"
    assert balance_of(seller) == Decimal("500.70")


def test_topups_are_rate_limited_per_user_and_a_limited_call_writes_nothing(ratelimits, api_for, seller):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "wallet_topup": "1/d"}
    client = api_for(seller)
    assert create_topup(client, "10.00", key="r-1").status_code == 201
    before = snapshot()

    limited = create_topup(client, "10.00", key="r-2")

    assert (limited.status_code, limited.json()["error"]["code"]) == (429, "rate_limited")
    assert int(limited["Retry-After"]) >= 1
    assert snapshot() == before
