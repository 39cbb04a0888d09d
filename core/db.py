"""Read replica routing (docs/operations.md, "Running with a read replica").

With DATABASE_REPLICA_URL set, settings add a `replica` database and this router sends the reads
that may lag a little to it; everything else stays on `default` (the primary):

* writes, always;
* every read inside a transaction on the primary (`transaction.atomic`), so a service reads what it
  locks and writes;
* every read that is not marked lag-tolerant: authentication (role and block), a user's own wallet
  after a refund, the idempotency keys, the listings a moderator approves.

A read is lag-tolerant only inside `lag_tolerant_reads()` (or a function decorated with
`@lag_tolerant`): search, the public banner feed, the admin list pages and counts, the dashboard's
numbers. Without a replica the marks change nothing.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

_lag_tolerant: ContextVar[bool] = ContextVar("dgt_lag_tolerant_reads", default=False)
F = TypeVar("F", bound=Callable)


def replica_configured() -> bool:
    """Whether a `replica` database is configured (DATABASE_REPLICA_URL)."""
    return REPLICA in connections.settings


@contextmanager
def lag_tolerant_reads() -> Iterator[None]:
    """Reads in this block may be served by the replica (seconds behind the primary at worst).

    Still the primary inside a transaction on the primary, and for every write.
    """
    token = _lag_tolerant.set(True)
    try:
        yield
    finally:
        _lag_tolerant.reset(token)


def lag_tolerant(fn: F) -> F:
    """Decorator form of `lag_tolerant_reads()` (a DRF view method, a selector, a stats provider)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with lag_tolerant_reads():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def read_alias() -> str:
    """The alias a read made here goes to: `replica` for a lag-tolerant read outside a primary
    transaction when a replica is configured, else `default`."""
    if (_lag_tolerant.get() and replica_configured()
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block):
        return REPLICA
    return DEFAULT_DB_ALIAS


class ReplicaRouter:
    """DATABASE_ROUTERS entry: lag-tolerant reads to the replica, the rest to the primary."""

    def db_for_read(self, model, **hints) -> str:
        return read_alias()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # one database and its copy

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db != REPLICA  # the replica follows the primary's WAL; nothing migrates it

