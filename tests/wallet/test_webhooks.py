"""POST /api/webhooks/razorpay: signature, dedupe, top-ups, payout events in and out of order."""
from decimal import Decimal

import pytest
from django.test import Client

from wallet.models import Payout, PayoutStatus, ReconciliationMismatch, Transaction, TransactionKind, WebhookEvent
from wallet.services import payout_request

from .helpers import WEBHOOK_SECRET, balance_of, counts, fund, payable, post_webhook, sign, webhook_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)  # the webhook must not need a CSRF token or a JWT


def captured(user_id, payment_id="pay_29QQoUBi66xm2f", paise=50000, **extra):
    entity = {"id": payment_id, "entity": "payment", "amount": paise, "currency": "INR", "status": "captured",
              "order_id": "order_9A33XWu170gUtm", "method": "upi", "notes": {"userId": str(user_id)},
              "created_at": 1767225600, **extra}
    return webhook_body("payment.captured", entity)


def payout_event(payout: Payout, status: str, event: str | None = None):
    entity = {"id": payout.gateway_payout_id or "pout_1", "entity": "payout", "amount": int(payout.amount * 100),
              "currency": "INR", "status": status, "reference_id": str(payout.pk),
              "status_details": {"description": f"payout {status}", "source": "gateway", "reason": status}}
    return webhook_body(event or f"payout.{status}", entity)


@pytest.mark.parametrize("signature", [False, "", "deadbeef", "0" * 64])
def test_bad_or_missing_signature_is_400_and_writes_nothing(client, seller, signature):
    before = counts()
    response = post_webhook(client, captured(seller.pk), event_id="evt_1", signature=signature)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert counts() == before and WebhookEvent.objects.count() == 0


def test_signature_with_another_secret_is_400(client, seller):
    body = captured(seller.pk)

    response = post_webhook(client, body, event_id="evt_1", signature=sign(body, "other-secret"))
    assert response.status_code == 400
    assert balance_of(seller) == Decimal("0.00")


def test_no_secret_configured_accepts_nothing(client, seller, settings):
    settings.RAZORPAY_WEBHOOK_SECRET = ""
    body = captured(seller.pk)

    assert post_webhook(client, body, event_id="evt_1", signature=sign(body, "")).status_code == 400


def test_payment_captured_credits_once(client, seller):
    body = captured(seller.pk, paise=50035)
    response = post_webhook(client, body, event_id="evt_1")
    assert (response.status_code, response.json()) == (200, {"status": "processed"})
    assert balance_of(seller) == Decimal("500.35")
    # the same event again, and the same payment under a new event id: both duplicates
    assert post_webhook(client, body, event_id="evt_1").json() == {"status": "duplicate"}
    assert post_webhook(client, body, event_id="evt_2").json() == {"status": "duplicate"}
    assert balance_of(seller) == Decimal("500.35")
    assert Transaction.objects.filter(kind=TransactionKind.TOPUP).count() == 1
    assert WebhookEvent.objects.count() == 1


def test_payment_for_unknown_user_is_stored_and_ignored(client):
    response = post_webhook(client, captured(999999), event_id="evt_1")
    assert response.json() == {"status": "ignored"}
    assert Transaction.objects.count() == 0
    assert WebhookEvent.objects.get().outcome == "ignored"


def test_unhandled_event_is_ignored(client):
    response = post_webhook(client, webhook_body("order.paid", {"id": "order_1"}), event_id="evt_9")
    assert response.json() == {"status": "ignored"}


def test_body_that_is_not_an_event_is_400(client):
    body = b'{"hello": 1}'

    response = post_webhook(client, body, event_id="evt_1", signature=sign(body))
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def _processing_payout(user, amount="80.00") -> Payout:
    fund(user, "100.00")
    payable(user)
    payout, _ = payout_request(user=user, amount=Decimal(amount))
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.PROCESSING, gateway_payout_id=f"pout_{payout.pk}")
    payout.refresh_from_db()
    return payout


def test_payout_processed_completes_it(client, seller):
    payout = _processing_payout(seller)
    assert post_webhook(client, payout_event(payout, "processed"), event_id="evt_p1").json() == {"status": "processed"}
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert balance_of(seller) == Decimal("20.00")


def test_reversed_after_processed_keeps_one_final_state(client, seller):
    payout = _processing_payout(seller)
    post_webhook(client, payout_event(payout, "processed"), event_id="evt_p1")
    response = post_webhook(client, payout_event(payout, "reversed"), event_id="evt_p2")
    assert response.json() == {"status": "no_change"}
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert balance_of(seller) == Decimal("20.00")
    assert ReconciliationMismatch.objects.filter(payout=payout, gateway_status="reversed").count() == 1


def test_processed_arriving_after_reversed_moves_nothing(client, seller):
    payout = _processing_payout(seller)
    post_webhook(client, payout_event(payout, "reversed"), event_id="evt_p2")
    post_webhook(client, payout_event(payout, "processed"), event_id="evt_p1")
    post_webhook(client, payout_event(payout, "reversed"), event_id="evt_p3")  # same fact, new id: duplicate
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.REVERSED
    assert balance_of(seller) == Decimal("100.00")
    assert Transaction.objects.filter(kind=TransactionKind.PAYOUT_REVERSAL).count() == 1


def test_payout_failed_found_by_reference_before_the_gateway_id_is_known(client, seller):
    fund(seller, "100.00")
    payable(seller)
    payout, _ = payout_request(user=seller, amount=Decimal("30.00"))
    body = webhook_body("payout.failed", {"id": "pout_new", "entity": "payout", "status": "failed",
                                          "reference_id": str(payout.pk), "failure_reason": "Invalid IFSC"})
    assert post_webhook(client, body, event_id="evt_f").json() == {"status": "processed"}
    payout.refresh_from_db()
    assert (payout.status, payout.gateway_payout_id, payout.failure_reason) == (
        PayoutStatus.FAILED, "pout_new", "Invalid IFSC")
    assert balance_of(seller) == Decimal("100.00")
