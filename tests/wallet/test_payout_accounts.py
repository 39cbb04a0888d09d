"""Payout accounts through the fake gateway: add, replace, remove, cool-off, validation, admin disable.
Runs in both modes."""
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from audit.models import AuditLog
from notifications.models import Notification
from wallet.models import Payout, PayoutAccount, PayoutAccountStatus, PayoutStatus, ValidationStatus

from ..accounts.factories import PASSWORD
from .helpers import ACCOUNTS_URL, BANK, PAYOUTS_URL, balance_of, fund, snapshot

pytestmark = pytest.mark.django_db


def add(client, body):
    return client.post(ACCOUNTS_URL, body, format="json")


def payout(client, amount="40.00", key="p-1"):
    return client.post(PAYOUTS_URL, {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_add_bank_account_stores_masked_details_only(api_for, seller, settings):
    settings.PAYOUT_ACCOUNT_COOLOFF_SECONDS = 3600
    with time_machine.travel("2026-12-01 10:00:00+00:00", tick=False):
        response = add(api_for(seller), BANK)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("kind", "status", "name", "ifsc", "accountNumber", "vpa", "availableAt",
                                 "validationStatus")} == {
        "kind": "bank_account", "status": "active", "name": "Asha Verma", "ifsc": "HDFC0000053",
        "accountNumber": "XXXXXXXXXXX6789", "vpa": "", "availableAt": "2026-12-01T11:00:00Z",
        "validationStatus": "not_requested"}
    account = PayoutAccount.objects.get()
    assert account.fund_account_id.startswith("fa_fake_") and account.contact_id.startswith("cont_fake_")
    stored = [str(getattr(account, f.attname)) for f in PayoutAccount._meta.fields]
    assert not [v for v in stored if "765432123456789" in v]
    [audit] = AuditLog.objects.filter(action="wallet.payout_account.add")
    assert (audit.entity_type, audit.entity_id, audit.user_id) == ("payout_account", str(account.pk), seller.pk)
    assert audit.metadata["account"] == "HDFC0000053 XXXXXXXXXXX6789"
    assert Notification.objects.filter(user=seller, template_key="payout_account_changed",
                                       payload__change="added").exists()


def test_a_new_account_replaces_the_active_one_and_restarts_the_cooloff(api_for, seller):
    client = api_for(seller)
    first = add(client, BANK).json()
    PayoutAccount.objects.filter(pk=first["id"]).update(cooloff_until=timezone.now() - timedelta(hours=1))

    second = add(client, {"vpa": "Asha.Verma@okhdfcbank"})

    assert second.status_code == 201
    assert (second.json()["kind"], second.json()["vpa"]) == ("vpa", "as***@okhdfcbank")
    assert dict(PayoutAccount.objects.values_list("pk", "status")) == {
        first["id"]: PayoutAccountStatus.REPLACED, second.json()["id"]: PayoutAccountStatus.ACTIVE}
    fund(seller, "100.00")
    before = snapshot()
    refused = payout(client)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "payout_account_cooling_off")
    assert snapshot() == before


@pytest.mark.parametrize("body, field", [
    ({**BANK, "ifsc": "HDFC1000053"}, "ifsc"),
    ({**BANK, "ifsc": "HDF00000053"}, "ifsc"),
    ({**BANK, "accountNumber": "12345678"}, "accountNumber"),
    ({**BANK, "accountNumber": "12345678901234567a"}, "accountNumber"),
    ({**BANK, "name": "A"}, "name"),
    ({**BANK, "accountNumber": "000000000"}, "accountNumber"),
    ({**BANK, "accountNumber": "0000 0000 0000"}, "accountNumber"),
    ({**BANK, "name": "Asha\nVerma"}, "name"),
    ({**BANK, "name": "Asha\x1b[2JVerma"}, "name"),
    ({**BANK, "name": "Asha \u202eamreV"}, "name"),
    ({**BANK, "name": "Asha \u2066Verma"}, "name"),
    ({"vpa": "no-at-sign"}, "vpa"),
    ({"vpa": "a@"}, "vpa"),
    ({**BANK, "vpa": "asha@okhdfcbank"}, "vpa"),
    ({}, "vpa"),
])
def test_invalid_details_are_400_and_change_nothing(api_for, seller, body, field):
    before = snapshot()
    response = add(api_for(seller), body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert snapshot() == before


def test_a_name_in_an_indic_script_with_zero_width_joiners_is_kept(api_for, seller):
    response = add(api_for(seller), {**BANK, "name": "\u0915\u094d\u200d\u0937 Verma"})
    assert response.status_code == 201 and response.json()["name"] == "\u0915\u094d\u200d\u0937 Verma"


def test_remove_the_active_account(api_for, seller):
    client = api_for(seller)
    created = add(client, BANK).json()

    removed = client.delete(ACCOUNTS_URL)
    again = client.delete(ACCOUNTS_URL)

    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    assert again.status_code == 404
    assert PayoutAccount.objects.get(pk=created["id"]).status == PayoutAccountStatus.REMOVED
    assert AuditLog.objects.filter(action="wallet.payout_account.remove", entity_id=str(created["id"])).count() == 1
    fund(seller, "100.00")
    refused = payout(client)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "payout_account_required")


def test_another_user_sees_none_of_my_accounts(api_for, seller, buyer):
    add(api_for(seller), BANK)
    before = snapshot()
    assert api_for(buyer).get(ACCOUNTS_URL).json()["count"] == 0
    assert api_for(buyer).delete(ACCOUNTS_URL).status_code == 404
    assert snapshot() == before


def test_payout_in_cooloff_is_refused_and_goes_through_after_it(api_for, seller, settings,
                                                               django_capture_on_commit_callbacks):
    settings.PAYOUT_ACCOUNT_COOLOFF_SECONDS = 600
    client = api_for(seller)
    start = timezone.now().replace(microsecond=0) + timedelta(seconds=1)
    with time_machine.travel(start, tick=False):
        account_id = add(client, BANK).json()["id"]
        fund(seller, "100.00")
    before = snapshot()

    with time_machine.travel(start + timedelta(seconds=599), tick=False):
        refused = payout(client)
    with time_machine.travel(start + timedelta(seconds=600), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        accepted = payout(client, key="p-2")

    available = (start + timedelta(seconds=600)).isoformat()
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "payout_account_cooling_off",
        "message": f"Your payout account was added recently; payouts to it are possible from {available}.",
        "fields": {"availableAt": available}}
    assert before["balances"] == [(seller.pk, Decimal("100.00"))]
    assert accepted.status_code == 201, accepted.json()
    paid = Payout.objects.get()
    assert (paid.payout_account_id, paid.status, paid.gateway_payout_id) == (account_id, PayoutStatus.PROCESSING,
                                                                            f"pout_fake_dgt-payout-{paid.pk}")
    assert balance_of(seller) == Decimal("60.00")


def test_validation_on_stores_a_validated_account(api_for, seller, settings):
    settings.PAYOUT_ACCOUNT_VALIDATION = True
    response = add(api_for(seller), BANK)
    assert response.status_code == 201
    account = PayoutAccount.objects.get()
    assert (account.validation_status, account.validation_detail) == (ValidationStatus.COMPLETED,
                                                                       "FAKE ACCOUNT HOLDER")


def test_validation_of_an_invalid_account_stores_nothing(api_for, seller, settings):
    settings.PAYOUT_ACCOUNT_VALIDATION = True
    settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "reject"
    before = snapshot()
    response = add(api_for(seller), BANK)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "payout_account_invalid")
    assert snapshot() == before


def test_gateway_down_is_503_and_stores_nothing(api_for, seller, settings):
    settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "timeout"
    before = snapshot()
    response = add(api_for(seller), BANK)
    assert (response.status_code, response.json()["error"]["code"]) == (503, "gateway_unavailable")
    assert snapshot() == before


def _admin_client(admin_user) -> Client:
    client = Client()
    assert client.login(username=admin_user.username, password=PASSWORD)
    return client


def test_admin_sees_masked_accounts_and_disables_one(api_for, seller, admin_user,
                                                     django_capture_on_commit_callbacks):
    client = api_for(seller)
    account_id = add(client, BANK).json()["id"]
    PayoutAccount.objects.filter(pk=account_id).update(cooloff_until=timezone.now() - timedelta(seconds=1))
    fund(seller, "100.00")
    assert payout(client).status_code == 201  # pending: the task has not run (no on-commit execution here)
    admin = _admin_client(admin_user)

    page = admin.get("/admin/wallet/payoutaccount/")
    assert page.status_code == 200
    assert b"HDFC0000053 XXXXXXXXXXX6789" in page.content and b"765432123456789" not in page.content
    form = admin.post("/admin/wallet/payoutaccount/", {"action": "disable_selected", "_selected_action": [account_id]})
    assert form.status_code == 200 and b"reason" in form.content
    with django_capture_on_commit_callbacks(execute=True):
        done = admin.post("/admin/wallet/payoutaccount/", {"action": "disable_selected",
                                                            "_selected_action": [account_id], "apply": "1",
                                                            "reason": "Suspected account takeover"})

    assert done.status_code == 302
    assert PayoutAccount.objects.get(pk=account_id).status == PayoutAccountStatus.DISABLED
    [audit] = AuditLog.objects.filter(action="wallet.payout_account.disable")
    assert (audit.user_id, audit.reason, audit.entity_id) == (admin_user.pk, "Suspected account takeover",
                                                              str(account_id))
    assert Notification.objects.filter(user=seller, template_key="payout_account_changed",
                                       payload__change="disabled").exists()
    from wallet.services import payout_submit

    pending = Payout.objects.get()
    assert payout_submit(payout_id=pending.pk).status == PayoutStatus.FAILED
    assert balance_of(seller) == Decimal("100.00")
    refused = payout(client, key="p-2")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "payout_account_required")


def test_a_user_cannot_reach_the_admin_disable(api_for, seller, buyer):
    account_id = add(api_for(seller), BANK).json()["id"]
    client = Client()
    assert client.login(username=buyer.username, password=PASSWORD) is True
    before = snapshot()
    response = client.post("/admin/wallet/payoutaccount/", {"action": "disable_selected", "apply": "1",
                                                             "_selected_action": [account_id], "reason": "x"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert snapshot() == before
