"""Blocking a blocked user is a 409 unless the admin asks to replace the block (then the old
block is kept in the audit row); a demotion revokes the user's refresh tokens, a promotion does not
(docs/access-and-hardening.md)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.tokens import token_pair_for
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _block(api_for, admin_user, user, **body):
    return api_for(admin_user).post(f"/api/admin/users/{user.pk}/block", {"reason": "spam", **body}, format="json")


def test_blocking_a_blocked_user_is_409_and_changes_nothing(api_for, admin_user, seller):
    assert _block(api_for, admin_user, seller, days=3).status_code == 200
    seller.refresh_from_db()
    state = (seller.blocked_at, seller.block_until, seller.block_reason)
    audits = AuditLog.objects.count()

    response = _block(api_for, admin_user, seller, reason="again")  # would have made it indefinite
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_blocked"
    seller.refresh_from_db()
    assert (seller.blocked_at, seller.block_until, seller.block_reason) == state
    assert AuditLog.objects.count() == audits


def test_replace_true_replaces_the_block_and_audits_the_old_one(api_for, admin_user, seller):
    _block(api_for, admin_user, seller, days=3)
    seller.refresh_from_db()
    old_until = seller.block_until

    response = _block(api_for, admin_user, seller, reason="worse", replace=True)
    assert response.status_code == 200 and response.json()["blockUntil"] is None
    log = AuditLog.objects.filter(action="user.block").first()
    assert log.reason == "worse"
    assert log.metadata["previous"] == {"blockedAt": log.metadata["previous"]["blockedAt"], "reason": "spam",
                                        "blockUntil": old_until.isoformat()}


def test_an_expired_block_is_not_in_force_and_may_be_replaced_without_replace(api_for, admin_user, seller):
    seller.blocked_at = timezone.now() - timedelta(days=2)
    seller.block_until = timezone.now() - timedelta(days=1)
    seller.save()
    assert _block(api_for, admin_user, seller).status_code == 200


def test_admin_block_action_leaves_blocked_users_unless_replace_is_ticked(client, admin_user, seller):
    client.force_login(admin_user)
    url = "/admin/accounts/user/"
    form = {"action": "block_selected", "_selected_action": [seller.pk], "apply": "1", "reason": "one", "days": "3"}
    client.post(url, form)
    seller.refresh_from_db()
    first_until = seller.block_until
    client.post(url, {**form, "reason": "two", "days": ""})
    seller.refresh_from_db()
    assert (seller.block_reason, seller.block_until) == ("one", first_until)
    client.post(url, {**form, "reason": "two", "days": "", "replace": "on"})
    seller.refresh_from_db()
    assert (seller.block_reason, seller.block_until) == ("two", None)


def test_a_demotion_revokes_refresh_tokens_a_promotion_does_not(api_for, admin_user, moderator, seller):
    moderator_refresh = token_pair_for(moderator)["refresh"]
    seller_refresh = token_pair_for(seller)["refresh"]

    assert api_for(admin_user).post(f"/api/admin/users/{moderator.pk}/role", {"role": "user"},
                                    format="json").status_code == 200
    assert api_for(admin_user).post(f"/api/admin/users/{seller.pk}/role", {"role": "moderator"},
                                    format="json").status_code == 200

    demoted = APIClient().post("/api/auth/token/refresh", {"refresh": moderator_refresh}, format="json")
    assert demoted.status_code == 401
    assert AuditLog.objects.get(action="user.role_set", entity_id=str(moderator.pk)).metadata[
        "refreshTokensRevoked"] == 1
    promoted = APIClient().post("/api/auth/token/refresh", {"refresh": seller_refresh}, format="json")
    assert promoted.status_code == 200
    assert OutstandingToken.objects.filter(user=seller, blacklistedtoken__isnull=True).count() == 1
