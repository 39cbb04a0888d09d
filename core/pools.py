"""The process's psycopg connection pools: built at start, drained after PostgreSQL restarted
(docs/operations.md, "Faults on the request path" and "Database connections: the psycopg pool").

`pools_prepared()` builds them when a web or ws process starts (dgt/wsgi.py, dgt/asgi.py).

A gunicorn sync worker serves every request on its main thread, one at a time, so taking its
connection from the pool and giving it back around each request bought nothing but the cost:
Django's whole `connect()` (connection parameters, autocommit, the `connection_created` receivers)
and `close()`, ~6 % of GET /api/wallet's profile and ~10 % of its CPU in process
(docs/benchmarks.md). So a connection taken on the main thread is kept for DB_POOL_HOLD_SECONDS
(`_held_between_requests`) and goes back to the pool then, or at the end of the first request that
leaves it unusable (Django's `close_if_unusable_or_obsolete`: an error and a failed `SELECT 1`, or
autocommit not restored). Other threads (ASGI's sync views, realtime/db.py, gthread workers) still
give theirs back after each request.

The pool lends a connection without checking it (a check is a round trip per request). When
PostgreSQL restarts, every connection idle in a process's pool is broken, and each of them would
fail one more request. So the first request that loses its connection drains the process's pools
(`pools_drain_after`, called when a request is answered 503): the idle connections are closed and
the pool opens new ones in the background, and a web process answers about one 503 per restart,
not one per pooled connection.
"""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.db.backends.signals import connection_created
from psycopg_pool import PoolTimeout, TooManyRequests

log = logging.getLogger(__name__)

# SQLSTATE classes of a lost connection: 08 connection exception, 57P operator intervention
# (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
_LOST = ("08", "57P")


def connection_lost(exc: BaseException | None) -> bool:
    """Whether database error `exc` says the connection itself is gone (the server restarted,
    crashed or cannot be reached), not that one statement failed (a lock or statement timeout) or
    that the pool had no connection free in time (a busy pool: draining it would only add work)."""
    if isinstance(exc, InterfaceError):  # "connection already closed"
        return True
    if not isinstance(exc, OperationalError) or isinstance(exc.__cause__, (PoolTimeout, TooManyRequests)):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)  # psycopg's error; None: no answer from the server
    return sqlstate is None or sqlstate.startswith(_LOST)


def pools_drain_after(exc: BaseException | None) -> int:
    """When `exc` says a database connection was lost, drain every connection pool of this process:
    idle connections are closed and replaced in the background, connections lent out are replaced
    when returned (psycopg_pool's `drain`), and the one this thread holds is returned when the
    request ends (a connection kept between requests would otherwise fail the next request too).
    Returns how many pools were drained; never raises."""
    if not connection_lost(exc):
        return 0
    drained = 0
    for conn in connections.all(initialized_only=True):
        pool = getattr(conn, "pool", None)  # only PostgreSQL with OPTIONS["pool"] has one
        if pool is None:
            continue
        try:
            pool.drain()
            conn.close_at = time.monotonic()  # Django's close_if_unusable_or_obsolete returns it
            drained += 1
        except Exception as drain_error:  # a pool being closed: the request is answered 503 anyway
            log.warning("database %r: pool not drained: %s", conn.alias, drain_error)
    if drained:
        log.warning("database connection lost (%s): %d pool(s) drained", type(exc).__name__, drained)
    return drained


def pools_prepared() -> None:
    """Build every configured psycopg pool object now, at process start (dgt/wsgi.py, dgt/asgi.py).

    Django builds a database's pool, importing psycopg_pool, on its first query: that cost the
    first request of every gunicorn worker about a quarter of a second (docs/benchmarks.md). No
    connection is opened here (Django creates the pool closed and opens it on first use), so a
    database that is down does not stop the process from starting. Also keeps the main thread's
    pooled connections between requests (`_held_between_requests`, DB_POOL_HOLD_SECONDS)."""
    for alias in connections:
        getattr(connections[alias], "pool", None)
    connection_created.connect(_held_between_requests, dispatch_uid="core.pools.held_between_requests")


def _held_between_requests(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: a pooled connection taken on the main thread stays with it for
    DB_POOL_HOLD_SECONDS (0: returned after every request). Django sets `close_at` from CONN_MAX_AGE,
    which must be 0 with a pool, just before this signal; `close_if_unusable_or_obsolete` (at the end
    of each request) returns the connection once `close_at` has passed, or sooner if unusable."""
    hold = settings.DB_POOL_HOLD_SECONDS
    if hold > 0 and getattr(connection, "pool", None) is not None \
            and threading.current_thread() is threading.main_thread():
        connection.close_at = time.monotonic() + hold
