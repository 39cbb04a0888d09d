"""The Celery result backend (CELERY_RESULT_BACKEND): django-celery-results' database backend that
survives PostgreSQL restarting (docs/operations.md, "Faults on the request path").

A worker writes each task's state (SUCCESS, FAILURE, RETRY) to PostgreSQL after the task's body.
With the stock backend, a state written while PostgreSQL was down or restarting raised out of
Celery's tracer ("Exception raised outside body"): a solo worker stopped with "Unrecoverable
error", and every follow-up after that waited for someone to restart it.

Here a transient database error (`core.tasks.TRANSIENT_DATABASE_ERRORS`) is retried on a new
connection with Celery's own backoff (CELERY_RESULT_BACKEND_ALWAYS_RETRY and the
CELERY_RESULT_BACKEND_*_RETRIES/_SLEEP_* settings: a few seconds in all), and a state that still
cannot be written is logged and dropped. Nothing else depends on it: the task's effects and their
state are domain rows (a follow-up stays pending and is dispatched again, a notification keeps its
status), and the result rows are only the admin's view of the queue.
"""
from __future__ import annotations

import logging

from celery.exceptions import BackendStoreError
from django.db import connection
from django_celery_results.backends.database import DatabaseBackend as StockDatabaseBackend

from .tasks import TRANSIENT_DATABASE_ERRORS

log = logging.getLogger(__name__)


class DatabaseBackend(StockDatabaseBackend):
    """`django-db` whose writes never raise a transient database error into the worker."""

    def exception_safe_to_retry(self, exc: BaseException) -> bool:
        """PostgreSQL unreachable or the connection dropped: worth another try (on a new connection)."""
        return isinstance(exc, TRANSIENT_DATABASE_ERRORS)

    def on_backend_retryable_error(self, exc: BaseException) -> None:
        """Before the next try: drop the broken connection, so that try opens a new one."""
        connection.close()

    def store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        """Write the task's state; returns `result`. A transient database error that outlasts the
        retries (Celery then raises BackendStoreError from it) is logged (WARNING) and the state
        is not written; any other error is raised."""
        try:
            return super().store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        except (BackendStoreError, *TRANSIENT_DATABASE_ERRORS) as exc:
            error = exc.__cause__ if isinstance(exc, BackendStoreError) else exc
            if not isinstance(error, TRANSIENT_DATABASE_ERRORS):
                raise
            log.warning("state %s of task %s not stored, the database is unavailable: %s", state, task_id, error)
            connection.close()
            return result
