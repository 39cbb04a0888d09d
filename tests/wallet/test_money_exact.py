"""Exact money on every database: integer paise in storage, the float case, ledger_check catching
drift, and the migration converting existing decimal data. Runs in both modes."""
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from wallet.fields import from_paise, to_paise
from wallet.models import Payout, Posting, Transaction, Wallet
from wallet.services import payout_request

from .helpers import PAYOUTS_URL, balance_of, fund, payable, snapshot


@pytest.mark.django_db
def test_credit_070_payout_040_then_030_leaves_exactly_zero(api_for, seller):
    fund(seller, "0.70")
    payable(seller)
    client = api_for(seller)

    first = client.post(PAYOUTS_URL, {"amount": "0.40"}, format="json", HTTP_IDEMPOTENCY_KEY="a")
    second = client.post(PAYOUTS_URL, {"amount": "0.30"}, format="json", HTTP_IDEMPOTENCY_KEY="b")

    assert (first.status_code, second.status_code) == (201, 201), second.json()
    assert balance_of(seller) == Decimal("0.00")
    assert client.get("/api/wallet").json()["balance"] == "0.00"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT balance FROM {Wallet._meta.db_table} WHERE user_id = %s", [seller.pk])
        assert cursor.fetchone()[0] == 0  # an integer zero, not 5.55e-17
    before = snapshot()
    third = client.post(PAYOUTS_URL, {"amount": "0.01"}, format="json", HTTP_IDEMPOTENCY_KEY="c")
    assert (third.status_code, third.json()["error"]["code"]) == (409, "insufficient_funds")
    assert snapshot() == before
    call_command("ledger_check", stdout=StringIO())


@pytest.mark.django_db
def test_many_small_amounts_sum_exactly(seller):
    for _ in range(10):
        fund(seller, "0.10")
    payable(seller)
    for _ in range(3):
        payout_request(user=seller, amount=Decimal("0.10"))
    payout_request(user=seller, amount=Decimal("0.70"))
    assert balance_of(seller) == Decimal("0.00")
    call_command("ledger_check", stdout=StringIO())


def test_paise_conversions_are_exact_and_refuse_fractions_of_a_paisa():
    assert to_paise(Decimal("0.70")) == 70 and to_paise("999999999999.99") == 99999999999999
    assert from_paise(29) == Decimal("0.29") and from_paise(Decimal("70")) == Decimal("0.70")
    for bad in ("0.001", "NaN", "Infinity", "abc"):
        with pytest.raises(ValueError):
            to_paise(bad)


def ledger_problems() -> str:
    """Run ledger_check expecting it to fail; return what it reported."""
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("ledger_check", stdout=StringIO(), stderr=err)
    return err.getvalue()


@pytest.mark.django_db
def test_ledger_check_catches_one_paisa_of_drift(seller):
    fund(seller, "10.00")
    call_command("ledger_check", stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Wallet._meta.db_table} SET balance = balance + 1 WHERE user_id = %s", [seller.pk])

    assert f"wallet {seller.pk} (seller): cached balance 10.01, postings sum 10.00" in ledger_problems()


@pytest.mark.django_db
def test_ledger_check_catches_an_unbalanced_entry(seller):
    fund(seller, "10.00")
    posting = Posting.objects.filter(account="gateway_clearing").get()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Posting._meta.db_table} SET amount = amount + 1 WHERE id = %s", [posting.pk])

    assert f"transaction {posting.transaction_id}: postings sum to 0.01, not 0.00" in ledger_problems()


@pytest.mark.django_db
def test_ledger_check_catches_a_float_written_behind_the_ledgers_back(seller):
    fund(seller, "0.30")
    with connection.cursor() as cursor:  # what the old float column held after 0.70 - 0.40
        cursor.execute(f"UPDATE {Wallet._meta.db_table} SET balance = %s WHERE user_id = %s",
                       [29.999999999999993 if connection.vendor == "sqlite" else 31, seller.pk])

    assert f"wallet {seller.pk} (seller): cached balance" in ledger_problems()


@pytest.mark.slow  # migrates wallet back and forth
@pytest.mark.django_db(transaction=True)
def test_migration_converts_existing_decimal_money_to_paise_and_back(seller):
    """Rows written under 0001 (decimal columns; on SQLite floats, drift included) come out of 0002
    as the exact paise they meant, and the reverse migration gives the decimals back."""
    executor = MigrationExecutor(connection)
    executor.migrate([("wallet", "0001_initial")])
    old = executor.loader.project_state([("wallet", "0001_initial")]).apps
    OldWallet, OldTx, OldPosting, OldPayout = (old.get_model("wallet", name) for name in
                                               ("Wallet", "Transaction", "Posting", "Payout"))
    OldWallet.objects.create(user_id=seller.pk, balance=Decimal("0.30"))
    tx = OldTx.objects.create(kind="topup", wallet_id=seller.pk, amount=Decimal("999999999.99"), ref_id="old")
    OldPosting.objects.create(transaction=tx, account="wallet", wallet_id=seller.pk, amount=Decimal("0.70"))
    OldPosting.objects.create(transaction=tx, account="gateway_clearing", amount=Decimal("-0.70"))
    OldPayout.objects.create(wallet_id=seller.pk, amount=Decimal("0.40"))
    if connection.vendor == "sqlite":  # the drift the float column really held
        with connection.cursor() as cursor:
            cursor.execute("UPDATE wallet_wallet SET balance = 0.29999999999999993")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("wallet"))

    with connection.cursor() as cursor:
        cursor.execute("SELECT balance FROM wallet_wallet")
        assert cursor.fetchone()[0] == 30
        cursor.execute("SELECT amount FROM wallet_posting ORDER BY amount")
        assert [row[0] for row in cursor.fetchall()] == [-70, 70]
        cursor.execute("SELECT amount FROM wallet_transaction")
        assert cursor.fetchone()[0] == 99999999999
    assert Wallet.objects.get().balance == Decimal("0.30")
    assert Payout.objects.get().amount == Decimal("0.40")
    assert Transaction.objects.get().amount == Decimal("999999999.99")

    executor = MigrationExecutor(connection)
    executor.migrate([("wallet", "0001_initial")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT balance FROM wallet_wallet")
        assert Decimal(str(cursor.fetchone()[0])) == Decimal("0.30")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("wallet"))
    assert Wallet.objects.get().balance == Decimal("0.30")
