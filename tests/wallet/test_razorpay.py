"""The Razorpay adapter against recorded HTTP (responses), never the network."""
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from wallet.gateways import (
    GatewayRejected, GatewayTimeout, GatewayUnavailable, get_gateway, payout_status_from_gateway,
)
from wallet.gateways.fake import FakeGateway
from wallet.gateways.razorpay import RazorpayGateway, from_paise, to_paise
from wallet.models import PayoutStatus

DATA = Path(__file__).resolve().parents[1] / "data"
API = "https://api.razorpay.com/v1/payouts"


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def gateway():
    return RazorpayGateway(key_id="rzp_test_key", key_secret="secret", account_number="7878780080316316")


@responses.activate
def test_payout_create_posts_paise_with_the_idempotency_header(gateway):
    responses.post(API, json=recorded("razorpay_payout_processing.json"), status=200, match=[
        matchers.header_matcher({"X-Payout-Idempotency": "dgt-payout-42"}),
        matchers.json_params_matcher({"account_number": "7878780080316316", "fund_account_id": "fa_00000000000001",
                                      "amount": 1000050, "currency": "INR", "mode": "IMPS", "purpose": "payout",
                                      "queue_if_low_balance": True, "reference_id": "42",
                                      "narration": "dgt wallet payout"}),
    ])
    answer = gateway.payout_create(reference="42", amount=Decimal("10000.50"), fund_account_id="fa_00000000000001",
                                   idempotency_key="dgt-payout-42")
    assert (answer.gateway_id, answer.raw_status, answer.status) == ("pout_00000000000001", "processing",
                                                                     PayoutStatus.PROCESSING)
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")


@responses.activate
def test_payout_fetch_maps_reversed_with_its_reason(gateway):
    responses.get(f"{API}/pout_00000000000001", json=recorded("razorpay_payout_reversed.json"), status=200)
    answer = gateway.payout_fetch(gateway_id="pout_00000000000001")
    assert answer.status == PayoutStatus.REVERSED
    assert answer.reason == "Beneficiary bank confirmed the transfer was reversed"


@responses.activate
def test_bad_request_is_a_permanent_rejection(gateway):
    responses.post(API, json=recorded("razorpay_error_bad_fund_account.json"), status=400)
    with pytest.raises(GatewayRejected, match="fund account id provided does not exist"):
        gateway.payout_create(reference="1", amount=Decimal("1.00"), fund_account_id="fa_x", idempotency_key="k")


@responses.activate
def test_server_error_is_transient(gateway):
    responses.post(API, json=recorded("razorpay_error_server.json"), status=500)
    with pytest.raises(GatewayUnavailable):
        gateway.payout_create(reference="1", amount=Decimal("1.00"), fund_account_id="fa_x", idempotency_key="k")


@responses.activate
def test_timeout_is_transient(gateway):
    responses.post(API, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(GatewayTimeout):
        gateway.payout_create(reference="1", amount=Decimal("1.00"), fund_account_id="fa_x", idempotency_key="k")


def test_no_fund_account_is_rejected_without_a_call(gateway):
    with responses.RequestsMock() as rsps:  # any HTTP call would fail this test
        with pytest.raises(GatewayRejected):
            gateway.payout_create(reference="1", amount=Decimal("1.00"), fund_account_id="", idempotency_key="k")
        assert len(rsps.calls) == 0


@pytest.mark.parametrize("raw, ours", [
    ("queued", PayoutStatus.PROCESSING), ("pending", PayoutStatus.PROCESSING), ("scheduled", PayoutStatus.PROCESSING),
    ("processing", PayoutStatus.PROCESSING), ("processed", PayoutStatus.COMPLETED), ("reversed", PayoutStatus.REVERSED),
    ("failed", PayoutStatus.FAILED), ("rejected", PayoutStatus.FAILED), ("cancelled", PayoutStatus.FAILED),
])
def test_every_razorpay_payout_state_is_mapped(raw, ours):
    assert payout_status_from_gateway(raw) == ours


def test_paise_conversion_is_exact():
    assert to_paise(Decimal("0.35")) == 35
    assert to_paise(Decimal("999999999999.99")) == 99999999999999
    assert from_paise(1000050) == Decimal("10000.50")


def test_gateway_is_razorpay_only_when_keys_are_set(settings):
    settings.RAZORPAY_KEY_ID = settings.RAZORPAY_KEY_SECRET = ""
    assert isinstance(get_gateway(), FakeGateway)
    settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET = "rzp_test_key", "secret"
    assert isinstance(get_gateway(), RazorpayGateway)


def test_fake_gateway_is_deterministic(settings):
    settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "fail"
    fake = FakeGateway()
    a = fake.payout_create(reference="1", amount=Decimal("1.00"), fund_account_id="", idempotency_key="k1")
    b = fake.payout_create(reference="1", amount=Decimal("1.00"), fund_account_id="", idempotency_key="k1")
    assert a == b and a.status == PayoutStatus.PROCESSING
    assert fake.payout_fetch(gateway_id=a.gateway_id).status == PayoutStatus.FAILED
    settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "bogus"
    with pytest.raises(ValueError):
        fake.payout_fetch(gateway_id="x")
