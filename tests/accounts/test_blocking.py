"""Blocking and unblocking users: service, API, Django admin, auto-unblock (docs/access-and-hardening.md)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import services
from accounts.models import Role, User
from accounts.tasks import auto_unblock_run
from accounts.tokens import token_pair_for
from audit.models import AuditLog
from core.errors import Conflict, Forbidden, ValidationFailed
from outbox.models import EventOutbox

from .factories import PASSWORD

pytestmark = pytest.mark.django_db


def _counts():
    return (AuditLog.objects.count(), EventOutbox.objects.count(), BlacklistedToken.objects.count(),
            User.objects.filter(blocked_at__isnull=False).count())


def _login(username: str) -> dict:
    response = APIClient().post("/api/auth/token", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- API -------------------------------------------------------------------------------------

def test_block_with_days_sets_fields_audits_publishes_and_blacklists(api_for, admin_user, seller):
    tokens = _login("seller")
    before = timezone.now()

    response = api_for(admin_user).post(f"/api/admin/users/{seller.pk}/block",
                                        {"reason": "Spam listings", "days": 3}, format="json",
                                        HTTP_X_REQUEST_ID="req-block-1")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == seller.pk and body["blockReason"] == "Spam listings"
    seller.refresh_from_db()
    assert seller.blocked_at >= before
    assert seller.block_until - seller.blocked_at == pytest.approx(timedelta(days=3), abs=timedelta(seconds=5))
    log = AuditLog.objects.get()
    assert (log.action, log.entity_type, log.entity_id, log.user_id, log.reason) == (
        "user.block", "user", str(seller.pk), admin_user.pk, "Spam listings")
    assert log.request_id == "req-block-1" and log.ip_address == "127.0.0.1"
    assert log.metadata["refreshTokensRevoked"] == 1
    event = EventOutbox.objects.get(channel="users.blocked")
    assert event.group == "admin"
    assert event.payload["userId"] == seller.pk and event.payload["blocked"] is True
    assert BlacklistedToken.objects.filter(token__user=seller).count() == 1

    # Every call of the blocked user is refused with 403 user_blocked, refresh included.
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    refused = me.get("/api/me")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "user_blocked"
    refresh = APIClient().post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 403 and refresh.json()["error"]["code"] == "user_blocked"
    obtain = APIClient().post("/api/auth/token", {"username": "seller", "password": PASSWORD}, format="json")
    assert obtain.status_code == 403 and obtain.json()["error"]["code"] == "user_blocked"


def test_block_with_until_and_indefinite(api_for, admin_user, seller, buyer):
    until = (timezone.now() + timedelta(hours=5)).replace(microsecond=0)
    r1 = api_for(admin_user).post(f"/api/admin/users/{seller.pk}/block",
                                  {"reason": "x", "until": until.isoformat()}, format="json")
    r2 = api_for(admin_user).post(f"/api/admin/users/{buyer.pk}/block", {"reason": "y"}, format="json")
    assert (r1.status_code, r2.status_code) == (200, 200)
    seller.refresh_from_db()
    buyer.refresh_from_db()
    assert seller.block_until == until
    assert buyer.blocked_at is not None and buyer.block_until is None
    assert r2.json()["blockUntil"] is None


@pytest.mark.parametrize("body, field", [
    ({}, "reason"),
    ({"reason": "   "}, "reason"),
    ({"reason": "x" * 501}, "reason"),
    ({"reason": "x", "days": 0}, "days"),
    ({"reason": "x", "days": 3651}, "days"),
    ({"reason": "x", "days": "many"}, "days"),
    ({"reason": "x", "until": "not a date"}, "until"),
    ({"reason": "x", "until": "2001-01-01T00:00:00Z"}, "until"),
    ({"reason": "x", "until": "2999-01-01T00:00:00Z", "days": 2}, "until"),
])
def test_block_bad_input_is_400_and_changes_nothing(api_for, admin_user, seller, body, field):
    _login("seller")
    before = _counts()
    response = api_for(admin_user).post(f"/api/admin/users/{seller.pk}/block", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert _counts() == before
    seller.refresh_from_db()
    assert seller.blocked_at is None


def test_admin_cannot_block_self_or_other_admin_unless_superuser(api_for, make_user, admin_user):
    plain_admin = make_user(Role.ADMIN, username="admin2", is_staff=True)
    other_admin = make_user(Role.ADMIN, username="admin3", is_staff=True)
    before = _counts()

    own = api_for(plain_admin).post(f"/api/admin/users/{plain_admin.pk}/block", {"reason": "x"}, format="json")
    other = api_for(plain_admin).post(f"/api/admin/users/{other_admin.pk}/block", {"reason": "x"}, format="json")
    super_self = api_for(admin_user).post(f"/api/admin/users/{admin_user.pk}/block", {"reason": "x"}, format="json")

    assert (own.status_code, own.json()["error"]["code"]) == (403, "cannot_act_on_self")
    assert (other.status_code, other.json()["error"]["code"]) == (403, "target_is_admin")
    assert (super_self.status_code, super_self.json()["error"]["code"]) == (403, "cannot_act_on_self")
    assert _counts() == before

    by_superuser = api_for(admin_user).post(f"/api/admin/users/{other_admin.pk}/block", {"reason": "x"}, format="json")
    assert by_superuser.status_code == 200


def test_block_unknown_user_is_404(api_for, admin_user):
    before = _counts()
    response = api_for(admin_user).post("/api/admin/users/999999/block", {"reason": "x"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert _counts() == before


def test_unblock_then_old_refresh_token_stays_revoked_and_new_login_works(api_for, admin_user, seller):
    old = _login("seller")
    services.user_block(user_id=seller.pk, actor=admin_user, reason="spam")

    response = api_for(admin_user).post(f"/api/admin/users/{seller.pk}/unblock", {"reason": "appeal ok"}, format="json")

    assert response.status_code == 200 and response.json()["blockedAt"] is None
    seller.refresh_from_db()
    assert (seller.blocked_at, seller.block_until, seller.block_reason) == (None, None, "")
    log = AuditLog.objects.filter(action="user.unblock").get()
    assert log.user_id == admin_user.pk and log.reason == "appeal ok" and log.metadata["automatic"] is False
    assert log.metadata["blockReason"] == "spam"
    assert EventOutbox.objects.filter(channel="users.blocked", payload__blocked=False).count() == 1
    refused = APIClient().post("/api/auth/token/refresh", {"refresh": old["refresh"]}, format="json")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_not_valid"
    fresh = _login("seller")
    assert APIClient().post("/api/auth/token/refresh", {"refresh": fresh["refresh"]}, format="json").status_code == 200


def test_unblock_not_blocked_is_409(api_for, admin_user, seller):
    before = _counts()
    response = api_for(admin_user).post(f"/api/admin/users/{seller.pk}/unblock", {}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_blocked"
    assert _counts() == before


def test_reblock_with_replace_replaces_reason_and_end(admin_user, seller):
    services.user_block(user_id=seller.pk, actor=admin_user, reason="first", until=timezone.now() + timedelta(days=1))
    services.user_block(user_id=seller.pk, actor=admin_user, reason="second", replace=True)
    seller.refresh_from_db()
    assert (seller.block_reason, seller.block_until) == ("second", None)
    assert AuditLog.objects.filter(action="user.block").count() == 2
    assert AuditLog.objects.filter(action="user.block").first().metadata["previous"]["reason"] == "first"


def test_service_rules(admin_user, moderator, seller):
    with pytest.raises(Forbidden):
        services.user_block(user_id=seller.pk, actor=moderator, reason="x")
    with pytest.raises(ValidationFailed):
        services.user_block(user_id=seller.pk, actor=admin_user, reason="x",
                            until=(timezone.now() + timedelta(days=1)).replace(tzinfo=None))
    with pytest.raises(Conflict):
        services.user_unblock(user_id=seller.pk, actor=admin_user)
    assert AuditLog.objects.count() == 0


def test_refresh_tokens_are_recorded_as_outstanding(seller):
    token_pair_for(seller)
    _login("seller")
    assert OutstandingToken.objects.filter(user=seller).count() == 2


# --- automatic unblock -------------------------------------------------------------------------

def test_block_lifts_itself_at_authentication_after_until(admin_user, seller):
    services.user_block(user_id=seller.pk, actor=admin_user, reason="cool off",
                        until=timezone.now() + timedelta(hours=2))
    access = token_pair_for(seller)["access"]  # minted now, valid 15 min; we travel with a new one
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.get("/api/me").status_code == 403

    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1)):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(seller)['access']}")
        response = client.get("/api/me")
        assert response.status_code == 200
        assert response.json()["blockedAt"] is None
        seller.refresh_from_db()
        assert seller.blocked_at is None
        log = AuditLog.objects.get(action="user.unblock")
        assert log.user.username == services.SYSTEM_USERNAME and log.user.is_active is False
        assert log.metadata["automatic"] is True and log.metadata["blockReason"] == "cool off"
        assert client.get("/api/me").status_code == 200
        assert AuditLog.objects.filter(action="user.unblock").count() == 1


def test_hourly_job_lifts_expired_blocks_once(admin_user, seller, buyer, make_user):
    later = make_user(Role.USER, username="later")
    services.user_block(user_id=seller.pk, actor=admin_user, reason="a", until=timezone.now() + timedelta(hours=1))
    services.user_block(user_id=buyer.pk, actor=admin_user, reason="b")  # indefinite
    services.user_block(user_id=later.pk, actor=admin_user, reason="c", until=timezone.now() + timedelta(days=2))

    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        first = auto_unblock_run()
        second = auto_unblock_run()

    assert first == {"checked": 1, "unblocked": [seller.pk]}
    assert second == {"checked": 0, "unblocked": []}
    assert list(User.objects.filter(blocked_at__isnull=False).order_by("pk").values_list("username", flat=True)) == [
        "buyer", "later"]
    assert AuditLog.objects.filter(action="user.unblock", entity_id=str(seller.pk)).count() == 1


def test_runjob_auto_unblock(admin_user, seller, capsys):
    services.user_block(user_id=seller.pk, actor=admin_user, reason="a", until=timezone.now() + timedelta(minutes=1))
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        call_command("runjob", "auto_unblock")
    seller.refresh_from_db()
    assert seller.blocked_at is None


# --- role changes --------------------------------------------------------------------------------

def test_demoted_moderator_loses_moderation_at_once(api_for, admin_user, moderator, listing):
    client = api_for(moderator)  # token minted while still a moderator (role claim "moderator")
    response = api_for(admin_user).post(f"/api/admin/users/{moderator.pk}/role", {"role": "user", "reason": "left"},
                                        format="json")
    assert response.status_code == 200 and response.json()["role"] == "user"
    moderator.refresh_from_db()
    assert (moderator.role, moderator.is_staff) == ("user", False)
    log = AuditLog.objects.get(action="user.role_set")
    assert log.metadata == {"from": "moderator", "to": "user", "refreshTokensRevoked": 0}

    refused = client.post(f"/api/listings/{listing.pk}/approve", {}, format="json")
    assert refused.status_code == 403
    listing.refresh_from_db()
    assert listing.status == "pending"


def test_role_rules(api_for, make_user, admin_user, seller):
    plain_admin = make_user(Role.ADMIN, username="admin2", is_staff=True)
    before = _counts()
    make_admin = api_for(plain_admin).post(f"/api/admin/users/{seller.pk}/role", {"role": "admin"}, format="json")
    bad = api_for(admin_user).post(f"/api/admin/users/{seller.pk}/role", {"role": "owner"}, format="json")
    same = api_for(admin_user).post(f"/api/admin/users/{seller.pk}/role", {"role": "user"}, format="json")
    assert make_admin.status_code == 403
    assert bad.status_code == 400 and "role" in bad.json()["error"]["fields"]
    assert same.status_code == 409
    assert _counts() == before


# --- Django admin actions -------------------------------------------------------------------------

def test_admin_action_block_form_then_apply(client, admin_user, seller, buyer):
    client.force_login(admin_user)
    form = client.post("/admin/accounts/user/", {"action": "block_selected", "_selected_action": [seller.pk, buyer.pk]})
    assert form.status_code == 200 and b"Duration (days)" in form.content

    done = client.post("/admin/accounts/user/", {"action": "block_selected", "_selected_action": [seller.pk, buyer.pk],
                                                 "apply": "1", "reason": "fraud ring", "days": "7"})
    assert done.status_code == 302
    assert User.objects.filter(blocked_at__isnull=False).count() == 2
    assert AuditLog.objects.filter(action="user.block", reason="fraud ring").count() == 2
    assert EventOutbox.objects.filter(channel="users.blocked").count() == 2

    client.post("/admin/accounts/user/", {"action": "unblock_selected", "_selected_action": [seller.pk],
                                          "apply": "1", "reason": ""})
    seller.refresh_from_db()
    assert seller.blocked_at is None


def test_admin_action_block_without_reason_changes_nothing(client, admin_user, seller):
    client.force_login(admin_user)
    response = client.post("/admin/accounts/user/", {"action": "block_selected", "_selected_action": [seller.pk],
                                                     "apply": "1", "reason": "", "days": "7"})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert _counts() == (0, 0, 0, 0)


def test_admin_action_role_change(client, admin_user, moderator):
    client.force_login(admin_user)
    client.post("/admin/accounts/user/", {"action": "set_role_selected", "_selected_action": [moderator.pk],
                                          "apply": "1", "role": "user", "reason": "demoted"})
    moderator.refresh_from_db()
    assert moderator.role == "user"
    assert AuditLog.objects.filter(action="user.role_set", reason="demoted").count() == 1


def test_moderator_cannot_see_users_in_admin(client, moderator):
    client.force_login(moderator)
    assert client.get("/admin/accounts/user/").status_code == 403


# --- concurrency (PostgreSQL, real threads) -------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_auto_unblock_runs_at_once_lift_each_block_once(admin_user, make_user):
    import threading

    from django.db import connection

    users = [make_user(username=f"c{i}") for i in range(5)]
    for user in users:
        services.user_block(user_id=user.pk, actor=admin_user, reason="x", until=timezone.now() + timedelta(minutes=1))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=30)
            results.append(auto_unblock_run())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert errors == []
    lifted = sorted(pk for r in results for pk in r["unblocked"])
    assert lifted == sorted(u.pk for u in users)
    assert AuditLog.objects.filter(action="user.unblock").count() == 5
    assert User.objects.filter(blocked_at__isnull=False).count() == 0


def test_blocked_moderators_admin_session_ends_at_once(client, admin_user, moderator):
    client.force_login(moderator)
    assert client.get("/admin/listings/listing/").status_code == 200
    services.user_block(user_id=moderator.pk, actor=admin_user, reason="compromised account")
    response = client.get("/admin/listings/listing/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    services.user_unblock(user_id=moderator.pk, actor=admin_user)
    assert client.get("/admin/listings/listing/").status_code == 200


def test_refresh_tokens_purge_deletes_only_expired_records(seller, admin_user):
    from accounts.tasks import refresh_tokens_purge

    token_pair_for(seller)
    services.user_block(user_id=seller.pk, actor=admin_user, reason="x")  # blacklists it
    token_pair_for(admin_user)
    assert refresh_tokens_purge() == {"remaining": 2}
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        token_pair_for(admin_user)  # minted "now" in the future: not expired
        result = refresh_tokens_purge()
    # the 2 expired outstanding rows went (and the blacklist row with them)
    assert result == {"remaining": 1}
    assert OutstandingToken.objects.count() == 1 and BlacklistedToken.objects.count() == 0
