"""Top-ups and payout accounts against Razorpay, through the API, with recorded HTTP (`responses`):
orders, payments fetch, contacts, fund accounts, fund account validations, payouts. Never the network."""
import hashlib
import hmac
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from django.utils import timezone
from responses import matchers

from wallet.models import Payout, PayoutAccount, TopupOrder, TopupStatus, ValidationStatus
from wallet.services import payout_submit
from wallet.services.topups import topup_reconciliation_run

from .helpers import (
    ACCOUNTS_URL, BANK, PAYOUTS_URL, WEBHOOK_SECRET, balance_of, create_topup, fund, post_webhook, snapshot,
    verify, webhook_body,
)

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent.parent / "data"
API = "https://api.razorpay.com/v1"
KEY_SECRET = "rzp-test-secret"
ORDER_ID, PAYMENT_ID = "order_Ni7eFmUhtm2dyq", "pay_Ni7fS5cL0NJcYl"


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def checkout_signature(order_id: str, payment_id: str) -> str:
    return hmac.new(KEY_SECRET.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


@pytest.fixture(autouse=True)
def razorpay(settings):
    settings.RAZORPAY_KEY_ID = "rzp_test_key"
    settings.RAZORPAY_KEY_SECRET = KEY_SECRET
    settings.RAZORPAY_ACCOUNT_NUMBER = "7878780080316316"
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    with responses.RequestsMock() as rsps:  # an unexpected call fails the test; every registered one must happen
        yield rsps


@pytest.fixture
def order(api_for, seller, razorpay):
    razorpay.post(f"{API}/orders", json=recorded("razorpay_order_created.json"), status=200)
    response = create_topup(api_for(seller), "500.70")
    assert response.status_code == 201, response.json()
    return response.json()


def test_topup_creates_a_razorpay_order(order, razorpay, seller):
    sent = json.loads(razorpay.calls[0].request.body)
    row = TopupOrder.objects.get()
    assert sent == {"amount": 50070, "currency": "INR", "receipt": row.receipt, "payment_capture": 1,
                    "notes": {"userId": str(seller.pk), "receipt": row.receipt, "purpose": "dgt top-up"}}
    assert razorpay.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert order == {"orderId": ORDER_ID, "amount": "500.70", "currency": "INR", "keyId": "rzp_test_key",
                     "status": "created", "paymentId": None, "createdAt": order["createdAt"], "paidAt": None}


def test_verify_fetches_the_payment_and_credits(api_for, seller, order, razorpay):
    razorpay.get(f"{API}/payments/{PAYMENT_ID}", json=recorded("razorpay_payment_captured.json"), status=200)

    response = verify(api_for(seller), ORDER_ID, PAYMENT_ID, checkout_signature(ORDER_ID, PAYMENT_ID))

    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["paymentId"]) == ("paid", PAYMENT_ID)
    assert balance_of(seller) == Decimal("500.70")


def test_verify_with_a_bad_signature_calls_nothing_and_changes_nothing(api_for, seller, order, razorpay):
    before = snapshot()
    response = verify(api_for(seller), ORDER_ID, PAYMENT_ID, checkout_signature(ORDER_ID, "pay_other"))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_signature")
    assert len(razorpay.calls) == 1  # the order only
    assert snapshot() == before


@pytest.mark.parametrize("body, status, http, code", [
    ("razorpay_payment_authorized.json", 200, 409, "payment_not_captured"),
    ("razorpay_error_payment_not_found.json", 400, 422, "payment_mismatch"),
    ("razorpay_error_server.json", 500, 503, "gateway_unavailable"),
])
def test_verify_when_the_payment_is_not_usable_changes_nothing(api_for, seller, order, razorpay, body, status, http,
                                                               code):
    razorpay.get(f"{API}/payments/{PAYMENT_ID}", json=recorded(body), status=status)
    before = snapshot()

    response = verify(api_for(seller), ORDER_ID, PAYMENT_ID, checkout_signature(ORDER_ID, PAYMENT_ID))

    assert (response.status_code, response.json()["error"]["code"]) == (http, code)
    assert snapshot() == before
    assert TopupOrder.objects.get().status == TopupStatus.CREATED


def test_the_recorded_payment_captured_webhook_credits_the_order(seller, order, client):
    body = webhook_body("payment.captured", recorded("razorpay_payment_captured.json"))
    assert post_webhook(client, body, event_id="evt_rec").json() == {"status": "processed"}
    assert balance_of(seller) == Decimal("500.70")


def test_bank_account_creates_a_contact_and_a_fund_account(api_for, seller, razorpay):
    razorpay.post(f"{API}/contacts", json=recorded("razorpay_contact_created.json"), status=200, match=[
        matchers.json_params_matcher({"name": "Asha Verma", "type": "customer", "reference_id": f"dgt-user-{seller.pk}",
                                      "email": "seller@example.com"})])
    razorpay.post(f"{API}/fund_accounts", json=recorded("razorpay_fund_account_bank.json"), status=200, match=[
        matchers.json_params_matcher({"contact_id": "cont_00HjGh1DzMoUiM", "account_type": "bank_account",
                                      "bank_account": {"name": "Asha Verma", "ifsc": "HDFC0000053",
                                                       "account_number": "765432123456789"}})])

    response = api_for(seller).post(ACCOUNTS_URL, BANK, format="json")

    assert response.status_code == 201, response.json()
    account = PayoutAccount.objects.get()
    assert (account.contact_id, account.fund_account_id, account.account_number_masked) == (
        "cont_00HjGh1DzMoUiM", "fa_00HjHue1q8f7nT", "XXXXXXXXXXX6789")


def test_a_second_account_reuses_the_contact(api_for, seller, razorpay):
    razorpay.post(f"{API}/contacts", json=recorded("razorpay_contact_created.json"), status=200)
    razorpay.post(f"{API}/fund_accounts", json=recorded("razorpay_fund_account_bank.json"), status=200)
    razorpay.post(f"{API}/fund_accounts", json=recorded("razorpay_fund_account_vpa.json"), status=200, match=[
        matchers.json_params_matcher({"contact_id": "cont_00HjGh1DzMoUiM", "account_type": "vpa",
                                      "vpa": {"address": "asha.verma@okhdfcbank"}})])
    client = api_for(seller)

    assert client.post(ACCOUNTS_URL, BANK, format="json").status_code == 201
    response = client.post(ACCOUNTS_URL, {"vpa": "asha.verma@okhdfcbank"}, format="json")

    assert response.status_code == 201
    assert response.json()["vpa"] == "as***@okhdfcbank"
    assert [c.request.url for c in razorpay.calls] == [f"{API}/contacts", f"{API}/fund_accounts",
                                                       f"{API}/fund_accounts"]


def test_a_refused_fund_account_stores_nothing(api_for, seller, razorpay):
    razorpay.post(f"{API}/contacts", json=recorded("razorpay_contact_created.json"), status=200)
    razorpay.post(f"{API}/fund_accounts", json=recorded("razorpay_error_bad_fund_account.json"), status=400)
    before = snapshot()
    response = api_for(seller).post(ACCOUNTS_URL, BANK, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (422, "payout_account_rejected")
    assert snapshot() == before


def _account_calls(razorpay, validation: str):
    razorpay.post(f"{API}/contacts", json=recorded("razorpay_contact_created.json"), status=200)
    razorpay.post(f"{API}/fund_accounts", json=recorded("razorpay_fund_account_bank.json"), status=200)
    razorpay.post(f"{API}/fund_accounts/validations", json=recorded(validation), status=200, match=[
        matchers.json_params_matcher({"account_number": "7878780080316316", "fund_account": {"id": "fa_00HjHue1q8f7nT"},
                                      "amount": 100, "currency": "INR",
                                      "notes": {"purpose": "dgt payout account check"}})])


def test_validation_completed_active(api_for, seller, razorpay, settings):
    settings.PAYOUT_ACCOUNT_VALIDATION = True
    _account_calls(razorpay, "razorpay_fund_account_validation_completed.json")
    assert api_for(seller).post(ACCOUNTS_URL, BANK, format="json").status_code == 201
    account = PayoutAccount.objects.get()
    assert (account.validation_status, account.validation_id, account.validation_detail) == (
        ValidationStatus.COMPLETED, "fav_00HjHwsvOHdN6g", "ASHA VERMA")


def test_validation_invalid_stores_nothing(api_for, seller, razorpay, settings):
    settings.PAYOUT_ACCOUNT_VALIDATION = True
    _account_calls(razorpay, "razorpay_fund_account_validation_invalid.json")
    before = snapshot()
    response = api_for(seller).post(ACCOUNTS_URL, BANK, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (422, "payout_account_invalid")
    assert snapshot() == before


def test_pending_validation_blocks_payouts_until_its_webhook(api_for, seller, razorpay, settings, client):
    settings.PAYOUT_ACCOUNT_VALIDATION = True
    _account_calls(razorpay, "razorpay_fund_account_validation_created.json")
    user = api_for(seller)
    assert user.post(ACCOUNTS_URL, BANK, format="json").json()["validationStatus"] == "pending"
    PayoutAccount.objects.update(cooloff_until=timezone.now() - timedelta(seconds=1))
    fund(seller, "100.00")
    before = snapshot()
    refused = user.post(PAYOUTS_URL, {"amount": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY="v-1")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "payout_account_unverified")
    assert snapshot() == before

    entity = {**recorded("razorpay_fund_account_validation_completed.json"), "id": "fav_00HjHwsvOHdN6i"}
    body = json.dumps({"entity": "event", "event": "fund_account.validation.completed",
                       "contains": ["fund_account.validation"],
                       "payload": {"fund_account.validation": {"entity": entity}}}).encode()
    hook = post_webhook(client, body, event_id="evt_fav")

    assert hook.json() == {"status": "processed"}
    assert PayoutAccount.objects.get().validation_status == ValidationStatus.COMPLETED
    assert user.post(PAYOUTS_URL, {"amount": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY="v-2").status_code == 201


def test_the_payout_goes_to_the_active_accounts_fund_account(api_for, seller, razorpay):
    razorpay.post(f"{API}/contacts", json=recorded("razorpay_contact_created.json"), status=200)
    razorpay.post(f"{API}/fund_accounts", json=recorded("razorpay_fund_account_bank.json"), status=200)
    user = api_for(seller)
    assert user.post(ACCOUNTS_URL, BANK, format="json").status_code == 201
    PayoutAccount.objects.update(cooloff_until=timezone.now() - timedelta(seconds=1))
    fund(seller, "100.00")
    assert user.post(PAYOUTS_URL, {"amount": "10.50"}, format="json", HTTP_IDEMPOTENCY_KEY="x").status_code == 201
    payout = Payout.objects.get()
    razorpay.post(f"{API}/payouts", json=recorded("razorpay_payout_processing.json"), status=200, match=[
        matchers.header_matcher({"X-Payout-Idempotency": f"dgt-payout-{payout.pk}"}),
        matchers.json_params_matcher({"account_number": "7878780080316316", "fund_account_id": "fa_00HjHue1q8f7nT",
                                      "amount": 1050, "currency": "INR", "mode": "IMPS", "purpose": "payout",
                                      "queue_if_low_balance": True, "reference_id": str(payout.pk),
                                      "narration": "dgt wallet payout"})])

    payout_submit(payout_id=payout.pk)

    payout.refresh_from_db()
    assert (payout.status, payout.gateway_payout_id) == ("processing", "pout_00000000000001")


def test_reconciliation_credits_a_paid_order_nobody_verified(seller, order, razorpay):
    razorpay.get(f"{API}/orders/{ORDER_ID}/payments", json=recorded("razorpay_order_payments.json"), status=200)

    first = topup_reconciliation_run()
    second = topup_reconciliation_run()  # the order is paid now: not even asked about again

    assert (first, second) == ({"checked": 1, "credited": 1, "errors": 0}, {"checked": 0, "credited": 0, "errors": 0})
    row = TopupOrder.objects.get()
    assert (row.status, row.payment_id, row.paid_via) == (TopupStatus.PAID, PAYMENT_ID, "reconciliation")
    assert balance_of(seller) == Decimal("500.70")


def test_reconciliation_credits_nothing_for_failed_attempts(seller, order, razorpay):
    razorpay.get(f"{API}/orders/{ORDER_ID}/payments", json=recorded("razorpay_order_payments_failed.json"),
                 status=200)
    before = snapshot()
    assert topup_reconciliation_run() == {"checked": 1, "credited": 0, "errors": 0}
    assert snapshot() == before
