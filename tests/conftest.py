"""Shared fixtures: users by role, authenticated API clients, rate limits on (`ratelimits`),
service availability.

Tests marked `services`, `postgres` or `redis` need the real services. Embedded (`make test`
without DATABASE_URL/REDIS_URL) they are skipped; with DGT_REQUIRE_SERVICES=1 (CI) a missing
service is a failure, never a skip.
"""
from __future__ import annotations

import os

import pytest
from celery import _state as celery_state
from django.conf import settings
from django.db.backends.sqlite3.base import DatabaseOperations as SqliteOperations
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tokens import access_token_for
from notifications.providers import get_provider
from core.breaker import reset_all

from .accounts.factories import UserFactory
from .core.helpers import clear_rate_counters
from .core.helpers import together as run_together
from .listings.factories import ListingFactory

REQUIRE_SERVICES = os.environ.get("DGT_REQUIRE_SERVICES") == "1"


def _sqlite_flush_unlocking_audit(self, style, tables, **kwargs):
    """The test suite's flush between transactional tests empties the audit log too: on SQLite
    through the unlock table of audit migration 0003 (PostgreSQL's flush TRUNCATEs, which the
    row trigger does not see)."""
    sql = _sqlite_sql_flush(self, style, tables, **kwargs)
    if sql and "audit_auditlog" in tables:
        sql = ["INSERT INTO audit_auditlog_unlock VALUES (1)", *sql, "DELETE FROM audit_auditlog_unlock"]
    return sql


_sqlite_sql_flush = SqliteOperations.sql_flush
SqliteOperations.sql_flush = _sqlite_flush_unlocking_audit


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _redis_ok() -> bool:
    if not settings.REDIS_URL:
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def pytest_runtest_setup(item):
    needs = {m.name for m in item.iter_markers()} & {"services", "postgres", "redis", "e2e"}
    if not needs:
        return
    missing = []
    if needs & {"services", "postgres", "e2e"} and not _on_postgres():
        missing.append("PostgreSQL (DATABASE_URL)")
    if needs & {"services", "redis", "e2e"} and not _redis_ok():
        missing.append("Redis (REDIS_URL)")
    if missing:
        msg = f"needs {', '.join(missing)}"
        if REQUIRE_SERVICES:
            pytest.fail(msg + " but DGT_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(autouse=True)
def _celery_join_flag_reset():
    """Celery keeps "joining a result would block" in one process-global flag that every eager
    `apply_async` sets and restores; two threads running eager tasks at once (the concurrency
    tests) can restore each other's value and leave it set, and a later test's `.get()` then
    fails with "Never call result.get() within a task!" (docs/testing.md). Each test starts clear."""
    celery_state._set_task_join_will_block(False)
    yield


@pytest.fixture
def closed_breakers():
    """Every circuit breaker (core.breaker) closed before and after the test."""
    reset_all()
    yield
    reset_all()


@pytest.fixture
def ratelimits(settings):
    """Rate limiting on, with fresh counters; returns the settings fixture to set rates on."""
    settings.RATELIMIT_ENABLE = True
    clear_rate_counters()
    yield settings
    clear_rate_counters()


@pytest.fixture
def make_user(db):
    def make(role: str = Role.USER, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def seller(make_user):
    return make_user(Role.USER, username="seller")


@pytest.fixture
def buyer(make_user):
    return make_user(Role.USER, username="buyer")


@pytest.fixture
def moderator(make_user):
    return make_user(Role.MODERATOR, username="moderator", is_staff=True)


@pytest.fixture
def admin_user(make_user):
    return make_user(Role.ADMIN, username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def listing(seller):
    return ListingFactory(owner=seller)


@pytest.fixture
def api():
    """An unauthenticated API client; `api_for(user)` gives an authenticated one."""
    return APIClient()


@pytest.fixture
def api_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
        return client

    return make


@pytest.fixture
def together():
    """The concurrency tests' `tests.core.helpers.together` (calls released at once by a barrier,
    each on its own database connection), as a fixture."""
    return run_together


@pytest.fixture
def console_providers(settings):
    """The console push/SMS providers (fresh per test), Django's email backend (the test outbox)
    and a high send-rate limit for speed (docs/notifications.md)."""
    settings.NOTIFICATION_PROVIDERS = {
        "push": "notifications.providers.console.ConsolePushProvider",
        "sms": "notifications.providers.console.ConsoleSmsProvider",
        "email": "notifications.providers.email.DjangoEmailProvider",
    }
    settings.NOTIFICATION_RATE_LIMIT_PER_SECOND = 10_000
    push, sms = get_provider("push"), get_provider("sms")
    push.sent.clear()
    sms.sent.clear()
    return {"push": push, "sms": sms}
