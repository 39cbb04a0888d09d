"""The pools after PostgreSQL restarted (core.pools, docs/operations.md): a lost connection drains
the process's psycopg pools, a failed statement or a busy pool does not."""
from __future__ import annotations

from types import SimpleNamespace

import psycopg
import pytest
from django.db import IntegrityError, InterfaceError, OperationalError
from psycopg_pool import PoolTimeout

from core.pools import connection_lost, pools_drain_after


def django_error(cls, cause: BaseException):
    """The Django error wrapping `cause`, as Django's wrap_database_errors raises it."""
    exc = cls(str(cause))
    exc.__cause__ = cause
    return exc


class FakePool:
    def __init__(self) -> None:
        self.drains = 0

    def drain(self) -> None:
        self.drains += 1


@pytest.fixture
def pools(monkeypatch):
    """Two pooled databases and one without a pool, as core.pools sees this thread's connections."""
    default, replica = FakePool(), FakePool()
    wrappers = [SimpleNamespace(alias="default", pool=default), SimpleNamespace(alias="replica", pool=replica),
                SimpleNamespace(alias="sqlite")]
    monkeypatch.setattr("core.pools.connections", SimpleNamespace(all=lambda initialized_only: wrappers))
    return default, replica


@pytest.mark.parametrize(("exc", "lost"), [
    # the server terminated the session (pg_ctl stop/restart -m fast)
    (django_error(OperationalError, psycopg.errors.AdminShutdown("terminating connection")), True),
    # the server process died (-m immediate, a crash): no SQLSTATE, the socket closed
    (django_error(OperationalError, psycopg.OperationalError("server closed the connection unexpectedly")), True),
    (django_error(OperationalError, psycopg.errors.CannotConnectNow("the database system is starting up")), True),
    (InterfaceError("connection already closed"), True),
    # one statement failed, the connection is fine
    (django_error(OperationalError, psycopg.errors.LockNotAvailable("could not obtain lock")), False),
    (django_error(OperationalError, psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
     False),
    # every pooled connection is busy: replacing them would only add work
    (django_error(OperationalError, PoolTimeout("couldn't get a connection after 10.00 sec")), False),
    (django_error(IntegrityError, psycopg.errors.UniqueViolation("duplicate key")), False),
    (ValueError("not a database error"), False),
    (None, False),
])
def test_connection_lost_tells_a_gone_connection_from_a_failed_statement(exc, lost):
    assert connection_lost(exc) is lost


def test_a_lost_connection_drains_every_pool_once(pools):
    exc = django_error(OperationalError, psycopg.errors.AdminShutdown("terminating connection"))

    assert pools_drain_after(exc) == 2
    assert [pool.drains for pool in pools] == [1, 1]


def test_a_failed_statement_drains_nothing(pools):
    exc = django_error(OperationalError, psycopg.errors.LockNotAvailable("could not obtain lock"))

    assert pools_drain_after(exc) == 0
    assert [pool.drains for pool in pools] == [0, 0]


def test_a_pool_that_cannot_be_drained_is_logged_not_raised(pools, caplog):
    default, replica = pools

    def closed() -> None:
        raise psycopg.OperationalError("the pool 'pool-1' is already closed")

    default.drain = closed

    assert pools_drain_after(InterfaceError("connection already closed")) == 1
    assert replica.drains == 1
    assert "pool not drained" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(("cause", "drains"), [
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), 1),
    (psycopg.errors.LockNotAvailable("could not obtain lock on row"), 0),
])
def test_a_request_answered_503_drains_the_pools_only_when_its_connection_was_lost(api_for, seller, pools,
                                                                                     monkeypatch, cause, drains):
    def gone(self, request, *args, **kwargs):
        raise django_error(OperationalError, cause)

    client = api_for(seller)
    monkeypatch.setattr("rest_framework.views.APIView.initial", gone)

    response = client.get("/api/wallet")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert [pool.drains for pool in pools] == [drains, drains]


# --- the main thread keeps its pooled connection between requests (core.pools._held_between_requests) ---

@pytest.fixture
def pooled(db, settings):
    """A second connection to the test database, with the web line's psycopg pool, the receiver
    connected as at process start (`pools_prepared`). Made outside `connections` under the alias
    "default" (the pool's own: `connections["default"]` has none here), so that Django's test case
    lets it connect and contrib.postgres finds its alias; it only reads."""
    import copy

    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    from core.pools import pools_prepared

    conf = copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS])
    conf.update(CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
    conf["OPTIONS"] = {**conf.get("OPTIONS", {}), "pool": {"min_size": 1, "max_size": 2, "timeout": 5}}
    settings.DB_POOL_HOLD_SECONDS = 60
    pools_prepared()
    wrapper = DatabaseWrapper(conf, DEFAULT_DB_ALIAS)
    try:
        yield wrapper
    finally:
        wrapper.close()
        wrapper.close_pool()


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def request_ends(wrapper) -> None:
    """What Django does to this connection when a request ends (`close_old_connections`)."""
    wrapper.close_if_unusable_or_obsolete()


@pytest.mark.postgres
def test_the_main_thread_keeps_its_pooled_connection_across_requests_until_the_hold_ends(pooled, monkeypatch):
    import core.pools

    first = backend_pid(pooled)
    request_ends(pooled)
    assert pooled.connection is not None
    assert backend_pid(pooled) == first  # the same server session: nothing taken from the pool

    later = core.pools.time.monotonic() + 61
    monkeypatch.setattr("django.db.backends.base.base.time.monotonic", lambda: later)
    request_ends(pooled)
    assert pooled.connection is None  # back in the pool


@pytest.mark.postgres
def test_a_connection_left_unusable_goes_back_to_the_pool_at_the_end_of_its_request(pooled):
    backend_pid(pooled)
    pooled.set_autocommit(False)  # a request that did not restore autocommit

    request_ends(pooled)

    assert pooled.connection is None


@pytest.mark.postgres
def test_other_threads_and_a_hold_of_0_give_the_connection_back_after_each_request(pooled, settings):
    import threading

    kept = []

    def request() -> None:
        backend_pid(pooled)
        request_ends(pooled)
        kept.append(pooled.connection is not None)
        pooled.close()

    request()  # the main thread, held
    pooled.inc_thread_sharing()
    thread = threading.Thread(target=request)  # ASGI's sync views, gthread workers
    thread.start()
    thread.join()
    pooled.dec_thread_sharing()
    settings.DB_POOL_HOLD_SECONDS = 0
    request()  # the main thread, no hold

    assert kept == [True, False, False]


@pytest.mark.postgres
def test_a_held_connection_goes_back_to_the_pool_when_its_request_drains_the_pool(pooled, monkeypatch):
    """A request answered 503 because a connection was lost: the connection its thread holds then
    (which PostgreSQL's restart broke too) must not serve the next request."""
    backend_pid(pooled)
    monkeypatch.setattr("core.pools.connections", SimpleNamespace(all=lambda initialized_only: [pooled]))

    assert pools_drain_after(django_error(OperationalError, psycopg.errors.AdminShutdown("terminating"))) == 1
    request_ends(pooled)

    assert pooled.connection is None
