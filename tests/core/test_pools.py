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
