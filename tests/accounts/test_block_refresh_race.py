"""A block (or a demotion) revokes every refresh token of the user, including one minted at the
same moment by a refresh or a sign-in (docs/access-and-hardening.md, "Blocks and token mints").

The interleaving that used to leak a token is forced, not hoped for: the mint waits, after it
passed the block check, until the block has committed or is waiting for the user row lock
(seen in pg_stat_activity). Without the row lock the block commits first and its revocation
sweep misses the token minted next; with it the block waits and then revokes that token too.
"""
from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import services
from accounts.tokens import RefreshToken, token_pair_for

from .factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
TRIES = 12


def _lock_waiters() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else the first read is kept for the transaction
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


def _race(monkeypatch, mint_request, act):
    """Run `mint_request()` (an API call that mints a refresh token) against `act()` (a block or
    a demotion) with the interleaving above. Returns the mint's response."""
    checked, acted = threading.Event(), threading.Event()
    original = RefreshToken.for_user.__func__
    result, errors = {}, []

    def slow_for_user(cls, user):
        if threading.current_thread().name == "mint":
            checked.set()
            for _ in range(2000):  # until the block committed, or waits for our row lock
                if acted.wait(0.005) or _lock_waiters():
                    break
            else:
                errors.append("the block neither committed nor waited")
        return original(cls, user)

    def mint():
        try:
            result["response"] = mint_request()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    def block():
        try:
            checked.wait(20)
            act()
        except Exception as exc:  # pragma: no cover
            errors.append(repr(exc))
        finally:
            acted.set()
            connection.close()

    monkeypatch.setattr(RefreshToken, "for_user", classmethod(slow_for_user))
    threads = [threading.Thread(target=mint, name="mint"), threading.Thread(target=block, name="block")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.undo()
    assert errors == []
    return result["response"]


def _live_refresh_tokens(user) -> int:
    return OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).count()


def _assert_revoked(user, response):
    assert _live_refresh_tokens(user) == 0
    if response.status_code == 200:  # the mint won the lock: its new token was revoked by the block
        again = APIClient().post("/api/auth/token/refresh", {"refresh": response.json()["refresh"]}, format="json")
        # The block is checked before the blacklist (docs/access-and-hardening.md, refresh order).
        assert (again.status_code, again.json()["error"]["code"]) == (403, "user_blocked")
    else:  # the mint waited for the block and was refused
        assert response.status_code == 403 and response.json()["error"]["code"] == "user_blocked"


def test_a_refresh_racing_a_block_cannot_outlive_it(monkeypatch):
    admin = UserFactory(role="admin", is_staff=True, is_superuser=True)
    for i in range(TRIES):
        user = UserFactory()
        refresh = token_pair_for(user)["refresh"]
        response = _race(
            monkeypatch,
            lambda: APIClient().post("/api/auth/token/refresh", {"refresh": refresh}, format="json"),
            lambda: services.user_block(user_id=user.pk, actor=admin, reason=f"race {i}"))
        _assert_revoked(user, response)


def test_a_sign_in_racing_a_block_cannot_outlive_it(monkeypatch):
    admin = UserFactory(role="admin", is_staff=True, is_superuser=True)
    user = UserFactory(password="pw-123456789")
    response = _race(
        monkeypatch,
        lambda: APIClient().post("/api/auth/token", {"username": user.username, "password": "pw-123456789"},
                                 format="json"),
        lambda: services.user_block(user_id=user.pk, actor=admin, reason="race"))
    _assert_revoked(user, response)


def test_a_refresh_racing_a_demotion_cannot_outlive_it(monkeypatch):
    admin = UserFactory(role="admin", is_staff=True, is_superuser=True)
    moderator = UserFactory(role="moderator", is_staff=True)
    refresh = token_pair_for(moderator)["refresh"]
    response = _race(
        monkeypatch,
        lambda: APIClient().post("/api/auth/token/refresh", {"refresh": refresh}, format="json"),
        lambda: services.user_role_set(user_id=moderator.pk, actor=admin, role="user"))
    assert response.status_code == 200
    assert _live_refresh_tokens(moderator) == 0
    again = APIClient().post("/api/auth/token/refresh", {"refresh": response.json()["refresh"]}, format="json")
    assert again.status_code == 401
