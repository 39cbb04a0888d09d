"""The ledger: charges, the guarded balance update, ledger_check, wallet read endpoints."""
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from wallet.models import Account, Posting, Transaction, TransactionKind, Wallet
from wallet.services import InsufficientFunds, charge_create, topup_credit
from wallet.services.ledger import wallet_apply

from .helpers import balance_of, charge, counts, fund

pytestmark = pytest.mark.django_db


def ledger_check() -> str:
    out = StringIO()
    call_command("ledger_check", stdout=out, stderr=out)
    return out.getvalue()


def test_charge_debits_the_wallet_into_fees(seller):
    fund(seller, "100.00")
    tx = charge(seller, "40.25", "listing-fee-7")
    assert balance_of(seller) == Decimal("59.75")
    assert (tx.kind, tx.amount, tx.ref_id) == (TransactionKind.CHARGE, Decimal("-40.25"), "listing-fee-7")
    assert sorted(Posting.objects.filter(transaction=tx).values_list("account", "amount")) == [
        (Account.FEES, Decimal("40.25")), (Account.WALLET, Decimal("-40.25"))]


def test_overdraft_is_409_insufficient_funds_and_writes_nothing(seller):
    fund(seller, "10.00")
    before = counts()
    with pytest.raises(InsufficientFunds) as exc:
        charge_create(user_id=seller.pk, amount=Decimal("10.01"), ref_id="r", reason="x")
    assert (exc.value.status, exc.value.code) == (409, "insufficient_funds")
    assert counts() == before


def test_topup_is_credited_once_per_payment(seller):
    topup_credit(user_id=seller.pk, amount=Decimal("25.00"), payment_id="pay_1")
    _, again = topup_credit(user_id=seller.pk, amount=Decimal("25.00"), payment_id="pay_1")
    assert again is False
    assert balance_of(seller) == Decimal("25.00")


def test_wallet_apply_refuses_to_run_without_a_transaction(seller, monkeypatch):
    monkeypatch.setattr(connection, "get_autocommit", lambda: True)  # as outside any atomic block
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        wallet_apply(user_id=seller.pk, delta=Decimal("1.00"))


def test_wallet_apply_returns_the_new_balance(seller):
    fund(seller, "1.00")
    with transaction.atomic():
        assert wallet_apply(user_id=seller.pk, delta=Decimal("-1.00")) == Decimal("0.00")


def test_ledger_check_passes_and_prints_totals(seller, buyer):
    fund(seller, "100.00")
    charge(seller, "30.00", "fee-1")
    output = ledger_check()
    assert "ledger_check: OK" in output
    assert "fees                            30.00" in output
    assert "gateway_clearing              -100.00" in output


def test_ledger_check_names_a_wallet_whose_cached_balance_drifted(seller):
    fund(seller, "100.00")
    Wallet.objects.filter(pk=seller.pk).update(balance=Decimal("99.99"))
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("ledger_check", stdout=out, stderr=out)
    assert f"wallet {seller.pk} (seller): cached balance 99.99, postings sum 100.00" in out.getvalue()


def test_ledger_check_names_an_unbalanced_transaction(seller):
    fund(seller, "100.00")
    tx = Transaction.objects.get(kind=TransactionKind.TOPUP)
    Posting.objects.filter(transaction=tx, account=Account.GATEWAY_CLEARING).update(amount=Decimal("-99.00"))
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("ledger_check", stdout=out, stderr=out)
    assert f"transaction {tx.pk}: postings sum to 1.00, not 0.00" in out.getvalue()


def test_get_wallet_and_transactions(api_for, seller, buyer):
    fund(seller, "100.00")
    charge(seller, "0.35", "fee-1")
    fund(buyer, "5.00")
    client = api_for(seller)
    assert client.get("/api/wallet").json() == {"userId": seller.pk, "balance": "99.65", "currency": "INR"}
    page = client.get("/api/wallet/transactions").json()
    assert page["count"] == 2
    assert [(t["kind"], t["amount"], t["refId"]) for t in page["results"]][0] == ("charge", "-0.35", "fee-1")


def test_get_wallet_without_one_is_zero_and_writes_nothing(api_for, buyer):
    assert api_for(buyer).get("/api/wallet").json() == {"userId": buyer.pk, "balance": "0.00", "currency": "INR"}
    assert not Wallet.objects.filter(pk=buyer.pk).exists()


def test_wallet_endpoints_need_authentication(api):
    assert api.get("/api/wallet").status_code == 401
    assert api.get("/api/wallet/transactions").status_code == 401


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/wallet/transactions").status_code == 200
    return len(ctx.captured_queries)


def test_transaction_list_query_count_does_not_grow_with_history(api_for, seller):
    fund(seller, "100.00")
    client = api_for(seller)
    few = _list_queries(client)
    for i in range(25):
        charge(seller, "1.00", f"fee-{i}")
    assert _list_queries(client) == few
    assert few <= 5  # authentication, count, one page
