"""core.tasks.database_write_retried: a write that must not be lost to a PostgreSQL restart is
retried on a new connection with a doubling wait, a bounded number of times (docs/operations.md)."""
from __future__ import annotations

import pytest
from django.db import OperationalError, transaction

from core.tasks import database_write_retried


@pytest.fixture
def sleeps(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("core.tasks.time.sleep", waits.append)
    return waits


def flaky(failures: int | None, error=None):
    """A write failing `failures` times (None: always) with `error`, then returning "written"."""
    calls = []

    def write():
        calls.append(1)
        if failures is None or len(calls) <= failures:
            raise error or OperationalError("terminating connection due to administrator command")
        return "written"

    write.calls = calls
    return write


def test_a_write_that_fails_while_the_database_restarts_is_written_on_a_later_try(sleeps):
    write = flaky(2)

    assert database_write_retried(write) == "written"
    assert len(write.calls) == 3 and sleeps == [0.2, 0.4]


def test_a_database_down_longer_than_the_tries_raises_the_last_error(sleeps):
    write = flaky(None)

    with pytest.raises(OperationalError):
        database_write_retried(write)
    assert len(write.calls) == 6 and sleeps == [0.2, 0.4, 0.8, 1.6, 2.0]


def test_inside_a_transaction_nothing_is_retried(db, sleeps):
    write = flaky(None)

    with pytest.raises(OperationalError), transaction.atomic():
        database_write_retried(write)
    assert len(write.calls) == 1 and sleeps == []


def test_any_other_error_is_raised_at_once(sleeps):
    write = flaky(None, error=ValueError("a bug"))

    with pytest.raises(ValueError):
        database_write_retried(write)
    assert len(write.calls) == 1 and sleeps == []
