"""Wallet periodic jobs: idempotency key purge; demo data's refundable charge."""
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from wallet.models import IdempotencyKey, Transaction, TransactionKind
from wallet.tasks import idempotency_keys_purge

from .helpers import balance_of, post_refund, refund_body

pytestmark = pytest.mark.django_db


def test_purge_deletes_only_keys_older_than_24h(api_for, admin_user, seller):
    with time_machine.travel(timezone.now() - timedelta(hours=25)):
        assert post_refund(api_for(admin_user), refund_body(seller, "1.00"), key="old").status_code == 201
    with time_machine.travel(timezone.now() - timedelta(hours=23)):
        assert post_refund(api_for(admin_user), refund_body(seller, "1.00", "gw-2"), key="recent").status_code == 201
    assert idempotency_keys_purge.apply().get() == {"deleted": 1}
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
    assert idempotency_keys_purge.apply().get() == {"deleted": 0}


def test_runjob_idempotency_purge(capsys):
    call_command("runjob", "idempotency_purge")
    assert 'idempotency_purge: {"deleted": 0}' in capsys.readouterr().out


def test_a_key_past_24h_still_never_credits_twice(api_for, admin_user, seller):
    with time_machine.travel(timezone.now() - timedelta(hours=25)):
        first = post_refund(api_for(admin_user), refund_body(seller, "1.00", "gw-a"), key="k")
        assert first.status_code == 201
    # the key row expired (not yet purged): the ledger's own key still recognises the same refund ...
    again = post_refund(api_for(admin_user), refund_body(seller, "1.00", "gw-a"), key="k")
    assert again.status_code == 201 and again.json()["transactionId"] == first.json()["transactionId"]
    # ... and refuses a different one under the same key
    other = post_refund(api_for(admin_user), refund_body(seller, "2.00", "gw-b"), key="k")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert balance_of(seller) == Decimal("1.00")


def test_demo_data_has_a_refundable_charge_and_is_idempotent(api_for):
    call_command("demo_data", "--quiet")
    call_command("demo_data", "--quiet")
    charge = Transaction.objects.get(kind=TransactionKind.CHARGE, ref_id="listing-fee-1")
    assert charge.amount == -500
    from accounts.models import User

    admin = User.objects.get(username="admin")
    seller = User.objects.get(username="seller")
    body = {"userId": seller.pk, "amount": "500.00", "reason": "Listing removed", "refId": "listing-fee-1"}
    first = post_refund(api_for(admin), body, key="readme-1")
    again = post_refund(api_for(admin), body, key="readme-1")
    assert first.status_code == 201 and first.json()["balance"] == "1000.00"
    assert again["Idempotent-Replayed"] == "true"
    out = StringIO()
    call_command("ledger_check", stdout=out)
    assert "ledger_check: OK" in out.getvalue()
