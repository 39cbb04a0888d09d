"""POST /api/wallet/refund: idempotency, caps, validation, effects, permissions, query count."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditLog
from notifications.models import Notification
from outbox.models import EventOutbox
from wallet.idempotency import fingerprint
from wallet.models import Account, IdempotencyKey, Posting, Transaction, TransactionKind

from .helpers import REFUND_URL, balance_of, charge, counts, fund, post_refund, refund_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(api_for, admin_user):
    return api_for(admin_user)


def test_refund_credits_once_with_journal_audit_events_and_notification(admin_api, admin_user, seller,
                                                                         django_capture_on_commit_callbacks):
    # given a seller charged 500.00 against listing-fee-1
    fund(seller, "800.00")
    charge(seller, "500.00", "listing-fee-1")
    before = counts()
    # when an admin refunds 120.50 of it
    with django_capture_on_commit_callbacks(execute=True):
        response = post_refund(admin_api, refund_body(seller, "120.50", "listing-fee-1", "Listing removed"))
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    tx = Transaction.objects.get(pk=body["transactionId"])
    assert body == {"transactionId": tx.pk, "userId": seller.pk, "amount": "120.50", "balance": "420.50",
                    "refId": "listing-fee-1", "reason": "Listing removed",
                    "createdAt": body["createdAt"]}
    assert "Idempotent-Replayed" not in response
    assert balance_of(seller) == Decimal("420.50")
    assert (tx.kind, tx.amount, tx.created_by_id, tx.idempotency_key) == (TransactionKind.REFUND, Decimal("120.50"),
                                                                          admin_user.pk, "key-1")
    assert sorted(Posting.objects.filter(transaction=tx).values_list("account", "wallet_id", "amount")) == [
        (Account.REFUNDS, None, Decimal("-120.50")), (Account.WALLET, seller.pk, Decimal("120.50"))]
    audit = AuditLog.objects.get(action="wallet.refund")
    assert (audit.entity_id, audit.user_id, audit.reason) == (str(seller.pk), admin_user.pk, "Listing removed")
    assert audit.metadata == {"amount": "120.50", "refId": "listing-fee-1", "transactionId": tx.pk}
    events = {(e.channel, e.group): e.payload for e in EventOutbox.objects.filter(id__gt=0).order_by("id")
              if e.channel in ("wallet.balance", "admin.alert") and e.payload.get("transactionId") == tx.pk}
    assert events[("wallet.balance", f"user.{seller.pk}")] == {"balance": "420.50", "transactionId": tx.pk}
    assert events[("admin.alert", "admin")]["kind"] == "refund"
    assert Notification.objects.filter(user=seller, template_key="refund_issued").count() == 1
    after = counts()
    assert after["transactions"] == before["transactions"] + 1
    assert after["audit"] == before["audit"] + 1


def test_same_key_same_body_replays_the_stored_answer_and_credits_once(admin_api, seller):
    first = post_refund(admin_api, refund_body(seller, "100.00"))
    before = counts()
    again = post_refund(admin_api, refund_body(seller, "100.00"))
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert counts() == before
    assert balance_of(seller) == Decimal("100.00")


def test_replay_is_byte_identical_to_the_first_answer(admin_api, seller):
    # on PostgreSQL too: the stored answer is text, not jsonb (which would reorder its keys)
    first = post_refund(admin_api, refund_body(seller, "100.00"))
    post_refund(admin_api, refund_body(seller, "5.00"), key="other")  # the balance moves on meanwhile
    again = post_refund(admin_api, refund_body(seller, "100.00"))
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert list(again.json()) == ["transactionId", "userId", "amount", "balance", "refId", "reason", "createdAt"]
    assert again["Content-Type"] == first["Content-Type"] == "application/json"


def test_replay_caught_by_the_ledger_key_after_the_key_row_is_purged_answers_the_first_body(admin_api, seller):
    first = post_refund(admin_api, refund_body(seller, "100.00"))
    post_refund(admin_api, refund_body(seller, "5.00"), key="other")
    IdempotencyKey.objects.all().delete()  # purged after IDEMPOTENCY_KEY_TTL_HOURS
    before = counts()
    again = post_refund(admin_api, refund_body(seller, "100.00"))
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content  # the balance right after the first refund, not today's
    assert again.json()["balance"] == "100.00" and balance_of(seller) == Decimal("105.00")
    assert counts()["transactions"] == before["transactions"]


def test_a_purged_key_used_again_for_another_refund_is_422_and_writes_nothing(admin_api, seller):
    # given a refund whose key row was purged (the journal entry keeps the key)
    assert post_refund(admin_api, refund_body(seller, "100.00")).status_code == 201
    IdempotencyKey.objects.all().delete()
    before = counts()
    # when the key comes back with another amount: the journal's unique key fails the request's
    # transaction and the refund service looks the first entry up in a second one
    again = post_refund(admin_api, refund_body(seller, "7.00"))
    # then it is refused, nothing is credited and the key can be used again (no claim left behind)
    assert again.status_code == 422 and again.json()["error"]["code"] == "idempotency_key_reused"
    assert counts() == before and balance_of(seller) == Decimal("100.00")
    assert not IdempotencyKey.objects.exists()


def test_the_key_is_read_once_per_request(admin_api, seller, monkeypatch):
    import wallet.api
    calls = []
    real = wallet.api.key_from_request
    monkeypatch.setattr(wallet.api, "key_from_request", lambda request: calls.append(1) or real(request))
    assert post_refund(admin_api, refund_body(seller)).status_code == 201
    assert calls == [1]


def test_same_key_different_body_is_422_and_writes_nothing(admin_api, seller):
    post_refund(admin_api, refund_body(seller, "100.00"))
    before = counts()
    response = post_refund(admin_api, refund_body(seller, "100.01"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert counts() == before


def test_key_is_scoped_to_the_caller(api_for, make_user, seller):
    admin_a = make_user(Role.ADMIN, username="admin-a")
    admin_b = make_user(Role.ADMIN, username="admin-b")
    assert post_refund(api_for(admin_a), refund_body(seller, "10.00"), key="shared").status_code == 201
    response = post_refund(api_for(admin_b), refund_body(seller, "10.00"), key="shared")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert balance_of(seller) == Decimal("20.00")


@pytest.mark.parametrize("key", [None, "", " ", "x" * 256, "clé"])
def test_missing_or_malformed_key_is_400_and_writes_nothing(admin_api, seller, key):
    before = counts()
    response = post_refund(admin_api, refund_body(seller), key=key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert counts() == before


def test_quoted_structured_field_key_is_the_same_key(admin_api, seller):
    post_refund(admin_api, refund_body(seller), key='"abc-123"')
    again = post_refund(admin_api, refund_body(seller), key="abc-123")
    assert again["Idempotent-Replayed"] == "true"
    assert balance_of(seller) == Decimal("100.00")


def test_key_in_flight_is_409(admin_api, admin_user, seller):
    body = refund_body(seller)
    now = timezone.now()
    IdempotencyKey.objects.create(owner=admin_user, key="busy", lock_token="t", locked_at=now, created_at=now,
                                  fingerprint=fingerprint(method="POST", path=REFUND_URL, data=body))
    before = counts()
    response = post_refund(admin_api, body, key="busy")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_flight"
    assert counts() == before


def test_stale_claim_of_a_crashed_request_is_taken_over(admin_api, admin_user, seller):
    body = refund_body(seller)
    old = timezone.now() - timedelta(minutes=5)
    IdempotencyKey.objects.create(owner=admin_user, key="stale", lock_token="t", locked_at=old, created_at=old,
                                  fingerprint=fingerprint(method="POST", path=REFUND_URL, data=body))
    response = post_refund(admin_api, body, key="stale")
    assert response.status_code == 201
    assert balance_of(seller) == Decimal("100.00")
    assert IdempotencyKey.objects.get(key="stale").status == IdempotencyKey.Status.COMPLETED


def test_failed_request_releases_the_key(admin_api, seller, settings):
    settings.REFUND_GOODWILL_MAX = Decimal("50.00")
    before = counts()
    assert post_refund(admin_api, refund_body(seller, "60.00"), key="k").status_code == 422
    assert counts() == before  # no key kept: errors are not replayed
    settings.REFUND_GOODWILL_MAX = Decimal("100.00")
    assert post_refund(admin_api, refund_body(seller, "60.00"), key="k").status_code == 201


BAD_AMOUNTS = [2.215, "2.215", "NaN", "Infinity", "-Infinity", "-1", "0", "1e30", "99999999999999.99", True, None, "",
               "abc", [], {}]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=[repr(a) for a in BAD_AMOUNTS])
def test_bad_amount_is_400_naming_the_field_and_writes_nothing(admin_api, seller, amount):
    fund(seller, "10.00")
    before = counts()
    response = post_refund(admin_api, refund_body(seller, amount))
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "invalid"
    assert "amount" in response.json()["error"]["fields"]
    assert counts() == before


@pytest.mark.parametrize("field", ["userId", "reason", "refId"])
def test_missing_field_is_400_naming_it(admin_api, seller, field):
    body = refund_body(seller)
    del body[field]
    before = counts()
    response = post_refund(admin_api, body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert counts() == before


@pytest.mark.parametrize("amount", [0.35, "0.35"])
def test_035_is_exactly_035(admin_api, seller, amount):
    response = post_refund(admin_api, refund_body(seller, amount))
    assert response.status_code == 201
    assert response.json()["amount"] == "0.35"
    assert balance_of(seller) == Decimal("0.35")
    assert Transaction.objects.get(kind=TransactionKind.REFUND).amount == Decimal("0.35")


def test_refunds_never_exceed_the_charge_cumulatively(admin_api, seller):
    fund(seller, "500.00")
    charge(seller, "500.00", "listing-fee-1")
    assert post_refund(admin_api, refund_body(seller, "300.00", "listing-fee-1"), key="a").status_code == 201
    before = counts()
    response = post_refund(admin_api, refund_body(seller, "200.01", "listing-fee-1"), key="b")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "refund_exceeds_charge"
    assert response.json()["error"]["fields"] == {"amount": "At most 200.00."}
    assert counts() == before
    assert post_refund(admin_api, refund_body(seller, "200.00", "listing-fee-1"), key="c").status_code == 201
    assert post_refund(admin_api, refund_body(seller, "0.01", "listing-fee-1"), key="d").status_code == 422
    assert balance_of(seller) == Decimal("500.00")


def test_charge_of_another_user_does_not_cover_a_refund(admin_api, seller, buyer, settings):
    settings.REFUND_GOODWILL_MAX = Decimal("10.00")
    fund(buyer, "500.00")
    charge(buyer, "500.00", "listing-fee-1")
    response = post_refund(admin_api, refund_body(seller, "500.00", "listing-fee-1"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "goodwill_limit_exceeded"


def test_goodwill_without_a_charge_is_capped_by_setting(admin_api, seller):
    assert post_refund(admin_api, refund_body(seller, "10000.00", "gw-1"), key="a").status_code == 201
    before = counts()
    response = post_refund(admin_api, refund_body(seller, "0.01", "gw-1"), key="b")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "goodwill_limit_exceeded"
    assert counts() == before
    response = post_refund(admin_api, refund_body(seller, "10000.01", "gw-2"), key="c")
    assert response.status_code == 422
    assert balance_of(seller) == Decimal("10000.00")


def test_unknown_user_is_404_and_writes_nothing(admin_api, seller):
    before = counts()
    response = post_refund(admin_api, {"userId": 999999, "amount": "1.00", "reason": "x", "refId": "r"})
    assert response.status_code == 404
    assert counts() == before


def test_first_refund_creates_the_wallet(admin_api, seller):
    assert post_refund(admin_api, refund_body(seller, "5.00")).status_code == 201
    assert balance_of(seller) == Decimal("5.00")


@pytest.mark.parametrize("who, status", [("anonymous", 401), ("user", 403), ("moderator", 403), ("admin", 201),
                                         ("blocked_admin", 403)])
def test_refund_permission_matrix(api, api_for, make_user, seller, who, status):
    if who == "anonymous":
        client = api
    else:
        role = {"user": Role.USER, "moderator": Role.MODERATOR}.get(who, Role.ADMIN)
        user = make_user(role, username=f"{who}-x")
        client = api_for(user)
        if who == "blocked_admin":
            user.blocked_at = timezone.now()
            user.save(update_fields=["blocked_at"])
    before = counts()
    response = post_refund(client, refund_body(seller))
    assert response.status_code == status
    if status == 201:
        assert balance_of(seller) == Decimal("100.00")
        assert counts()["transactions"] == before["transactions"] + 1
    else:
        assert counts() == before


def _refund_queries(admin_api, seller, key: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = post_refund(admin_api, refund_body(seller, "1.00", "gw-q"), key=key)
    assert response.status_code == 201
    return len(ctx.captured_queries)


def test_refund_makes_a_fixed_number_of_queries_whatever_the_history(admin_api, seller, buyer):
    fund(seller, "1.00")  # the wallet exists (its first credit also creates it: a few more statements)
    first = _refund_queries(admin_api, seller, "q-0")
    for i in range(30):  # history: refunds and charges on the same refId and on others
        post_refund(admin_api, refund_body(seller, "1.00", f"gw-{i % 3}"), key=f"h-{i}")
        post_refund(admin_api, refund_body(buyer, "1.00", "gw-q"), key=f"hb-{i}")
    later = _refund_queries(admin_api, seller, "q-1")
    assert first == later
    # user; key claim (+ SET LOCAL synchronous_commit on PostgreSQL); savepoint; entry, postings, audit,
    # wallet UPDATE, refId sums, outbox (one INSERT for both events); the refund_issued notification
    # recorded in the same transaction (channels SELECT, notification INSERT, notifications.new outbox
    # INSERT: +3, so a lost task message cannot lose it) and its send as a follow-up row (one INSERT:
    # +1, so a broker outage at commit cannot lose it; docs/operations.md); release; key completion.
    # Inside the test's transaction the claim's and the request's atomic blocks are savepoints too (+4).
    assert later <= (20 if connection.vendor == "postgresql" else 19)
