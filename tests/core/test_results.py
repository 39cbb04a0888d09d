"""The Celery result backend (core.results, docs/operations.md): a task's state that cannot be
written while PostgreSQL restarts is retried on a new connection, then dropped with a warning;
it never raises into the worker (which stopped with "Unrecoverable error" before)."""
from __future__ import annotations

import uuid

import pytest
from celery import current_app
from django.db import OperationalError
from django_celery_results.models import TaskResult

from core.results import DatabaseBackend


@pytest.fixture
def backend(monkeypatch):
    """The configured backend, its sleeps between tries recorded instead of slept."""
    backend = current_app.backend
    assert isinstance(backend, DatabaseBackend)  # CELERY_RESULT_BACKEND
    sleeps: list[float] = []
    monkeypatch.setattr(backend, "_sleep", sleeps.append)
    backend.sleeps = sleeps
    return backend


def failing_store(monkeypatch, backend, *, failures: int | None, error=None):
    """Make the backend's write fail `failures` times (None: always) with `error`, then write."""
    original = backend._store_result
    calls = []

    def store(*args, **kwargs):
        calls.append(1)
        if failures is None or len(calls) <= failures:
            raise error or OperationalError("consuming input failed: server closed the connection unexpectedly")
        return original(*args, **kwargs)

    monkeypatch.setattr(backend, "_store_result", store)
    return calls


@pytest.mark.django_db(transaction=True)  # the backend closes the broken connection between tries
def test_a_state_written_while_the_database_restarts_is_retried_and_stored(backend, monkeypatch):
    task_id = str(uuid.uuid4())
    calls = failing_store(monkeypatch, backend, failures=1)

    assert backend.store_result(task_id, {"listingId": 1}, "SUCCESS") == {"listingId": 1}

    assert len(calls) == 2 and len(backend.sleeps) == 1
    assert TaskResult.objects.get(task_id=task_id).status == "SUCCESS"


@pytest.mark.django_db(transaction=True)
def test_a_state_that_cannot_be_written_is_dropped_with_a_warning(backend, monkeypatch, caplog):
    task_id = str(uuid.uuid4())
    calls = failing_store(monkeypatch, backend, failures=None)

    assert backend.store_result(task_id, None, "RETRY") is None  # not raised into the worker

    assert len(calls) == backend.max_retries + 1 == 6
    assert not TaskResult.objects.filter(task_id=task_id).exists()
    assert f"state RETRY of task {task_id} not stored" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_any_other_error_of_the_write_still_raises_at_once(backend, monkeypatch):
    calls = failing_store(monkeypatch, backend, failures=None, error=ValueError("a bug"))

    with pytest.raises(ValueError):
        backend.store_result(str(uuid.uuid4()), None, "SUCCESS")

    assert len(calls) == 1 and backend.sleeps == []
