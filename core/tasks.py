"""One retry style for every Celery task (docs/jobs-and-monitoring.md, "Retries").

`retrying_task(...)` is `celery.shared_task` with Celery's own automatic retry: the errors in
`transient` (plus a dropped or locked database connection, `TRANSIENT_DATABASE_ERRORS`) are
retried with exponential backoff (`backoff` seconds doubling, capped at `backoff_max`) and full
jitter, at most `max_retries` times; any other error is permanent. A task whose transient error
outlasts its retries, or that meets a permanent one, ends in a state an admin can see and replay:
the task's row in django-celery-results (FAILURE), plus the domain row where there is one (a
`failed` notification, a payout still `pending` with `last_error` for the reconciliation).

Inline (CELERY_TASK_ALWAYS_EAGER: embedded mode, tests) Celery runs each retry at once with
`request.retries` counted up, so the same code path runs in both modes. A task that must end in
a failed state on its last try reads `self.request.retries >= self.max_retries` (bind=True).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from celery import Task, shared_task
from celery.exceptions import Retry
from django.db import InterfaceError, OperationalError, connection

TRANSIENT_DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
T = TypeVar("T")


class RetryingTask(Task):
    """A Celery task whose inline retries run at once even when CELERY_TASK_EAGER_PROPAGATES is
    on: Celery's `apply` re-applies a retry only when errors are not propagated; with propagation
    the `Retry` itself escapes (so inline, the first transient error would fail the caller).
    Here the retry's signature is applied with `retries + 1`, as Celery does without propagation;
    `max_retries` still bounds it (the last try raises the error itself)."""

    def apply(self, args=None, kwargs=None, *pos, retries=0, **options):
        try:
            return super().apply(args, kwargs, *pos, retries=retries, **options)
        except Retry as retry:
            if retry.sig is None:
                raise
            return retry.sig.apply(retries=retries + 1)


def retrying_task(*, transient: tuple[type[Exception], ...] = (), max_retries: int = 5, backoff: int = 2,
                  backoff_max: int = 600, **options):
    """Decorator: a shared task that retries `transient` errors and transient database errors
    (`autoretry_for`, `retry_backoff`, `retry_backoff_max`, `retry_jitter`, bounded
    `max_retries`). `options` go to `shared_task` (name, bind, acks_late, ...)."""
    options.setdefault("base", RetryingTask)
    return shared_task(autoretry_for=(*TRANSIENT_DATABASE_ERRORS, *transient), retry_backoff=backoff,
                       retry_backoff_max=backoff_max, retry_jitter=True, max_retries=max_retries, **options)


def database_write_retried(write: Callable[[], T], *, tries: int = 6, first_wait: float = 0.2,
                           max_wait: float = 2.0) -> T:
    """Run `write` (one autocommit statement that is safe to repeat, e.g. a guarded UPDATE) and
    return its result, retrying a transient database error (PostgreSQL restarting, the connection
    dropped) on a new connection: waits `first_wait` s doubling up to `max_wait` s, `tries` runs
    in all (about 5 s with the defaults), then the last error is raised. Inside a transaction
    nothing is retried (the transaction is lost with its connection).

    For the write that records what cannot be undone, such as a provider's answer to a send
    (notifications.sending): a short restart must not lose it (docs/operations.md)."""
    for attempt in range(tries):
        try:
            return write()
        except TRANSIENT_DATABASE_ERRORS:
            if attempt == tries - 1 or connection.in_atomic_block:
                raise
            connection.close()
            time.sleep(min(max_wait, first_wait * 2 ** attempt))
    raise AssertionError("unreachable")  # the last try returned or raised
