"""A worker child keeps its database connection between tasks under Django's CONN_MAX_AGE rule
(core.worker; docs/operations.md, "The worker's database connections")."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from core.worker import connections_checked_after_task, connections_checked_before_task
from dgt.celery import app

# autocommit, as in a worker; PostgreSQL: the workers' database (an SQLite test database is never
# really closed, and its connection has no `closed`).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _task(*, eager: bool) -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def _run_task_signals(sender) -> None:
    """What the worker does around a task: Celery's fixup and core.worker, before and after."""
    fixup = DjangoWorkerFixup(app)
    fixup.on_task_prerun(sender)
    connections_checked_before_task(sender)
    fixup.on_task_postrun(sender)
    connections_checked_after_task(sender)


def _connected(max_age: float):
    connection.ensure_connection()
    connection.close_at = time.monotonic() + max_age  # as CONN_MAX_AGE = max_age would set it
    return connection.connection


def test_a_connection_younger_than_conn_max_age_is_kept_across_tasks():
    raw = _connected(60)

    for _ in range(3):
        _run_task_signals(_task(eager=False))

    assert connection.connection is raw  # no new connection: Celery's fixup no longer closes it
    assert not raw.closed


def test_a_connection_past_conn_max_age_is_closed_after_the_task():
    raw = _connected(-1)  # CONN_MAX_AGE elapsed (with CONN_MAX_AGE 0: after every task)

    _run_task_signals(_task(eager=False))

    assert connection.connection is None and raw.closed


def test_a_connection_that_an_error_broke_is_closed():
    raw = _connected(60)
    raw.close()  # e.g. PostgreSQL restarted under it
    connection.errors_occurred = True  # Django marks it when a statement fails on a broken connection

    connections_checked_after_task(_task(eager=False))

    assert connection.connection is None


def test_a_task_applied_inline_leaves_the_connection_alone():
    raw = _connected(-1)

    connections_checked_before_task(_task(eager=True))
    connections_checked_after_task(_task(eager=True))

    assert connection.connection is raw and not raw.closed
