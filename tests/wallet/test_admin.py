"""Django admin: the refund action (same service, generated idempotency key), read-only ledger."""
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from accounts.models import Role
from audit.models import AuditLog
from wallet.models import Transaction, TransactionKind, Wallet

from .helpers import balance_of, charge, counts, fund

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/wallet/wallet/"


@pytest.fixture
def admin_client_(client, admin_user):
    client.force_login(admin_user)
    return client


def test_refund_action_shows_a_form_with_a_generated_key(admin_client_, seller):
    fund(seller, "10.00")
    response = admin_client_.post(CHANGELIST, {"action": "refund_selected", ACTION_CHECKBOX_NAME: [seller.pk]})
    assert response.status_code == 200
    form = response.context["form"]
    assert len(form.initial["idempotency_key"]) == 32
    assert b'name="idempotency_key"' in response.content


def test_refund_action_double_submit_credits_once(admin_client_, admin_user, seller):
    fund(seller, "500.00")
    charge(seller, "500.00", "listing-fee-1")
    data = {"action": "refund_selected", ACTION_CHECKBOX_NAME: [seller.pk], "apply": "1", "amount": "200.00",
            "reason": "Listing removed by moderation", "ref_id": "listing-fee-1", "idempotency_key": "a" * 32}
    first = admin_client_.post(CHANGELIST, data, follow=True)
    second = admin_client_.post(CHANGELIST, data, follow=True)
    assert balance_of(seller) == Decimal("200.00")
    tx = Transaction.objects.get(kind=TransactionKind.REFUND)
    assert (tx.created_by_id, tx.amount, tx.ref_id) == (admin_user.pk, Decimal("200.00"), "listing-fee-1")
    assert AuditLog.objects.filter(action="wallet.refund").count() == 1
    assert "refunded 200.00 INR" in first.content.decode()
    assert "already issued" in second.content.decode()


def test_refund_action_reports_the_cap_and_writes_nothing(admin_client_, seller):
    fund(seller, "10.00")
    charge(seller, "10.00", "fee-2")
    before = counts()
    response = admin_client_.post(CHANGELIST, {
        "action": "refund_selected", ACTION_CHECKBOX_NAME: [seller.pk], "apply": "1", "amount": "10.01",
        "reason": "x", "ref_id": "fee-2", "idempotency_key": "b" * 32}, follow=True)
    assert "would exceed its charges" in response.content.decode()
    assert counts() == before


def test_moderator_cannot_see_or_refund(client, make_user, seller):
    moderator = make_user(Role.MODERATOR, username="mod", is_staff=True)
    fund(seller, "10.00")
    client.force_login(moderator)
    assert client.get(CHANGELIST).status_code == 403
    client.post(CHANGELIST, {"action": "refund_selected", ACTION_CHECKBOX_NAME: [seller.pk], "apply": "1",
                             "amount": "1.00", "reason": "x", "ref_id": "r", "idempotency_key": "c" * 32})
    assert balance_of(seller) == Decimal("10.00")


@pytest.mark.parametrize("model", ["wallet", "transaction", "payout", "webhookevent", "reconciliationrun",
                                   "idempotencykey"])
def test_ledger_admin_is_read_only(admin_client_, seller, model):
    fund(seller, "10.00")
    assert admin_client_.get(f"/admin/wallet/{model}/").status_code == 200
    assert admin_client_.get(f"/admin/wallet/{model}/add/").status_code == 403
    wallet = Wallet.objects.get(pk=seller.pk)
    response = admin_client_.post(f"/admin/wallet/wallet/{wallet.pk}/change/", {"balance": "999.00"})
    assert response.status_code == 403
    assert balance_of(seller) == Decimal("10.00")
