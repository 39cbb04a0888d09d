"""A Celery worker child's database connection between tasks (docs/operations.md, "The worker's
database connections").

Celery's Django fixup closes every connection before and after each task unless
`CELERY_DB_REUSE_MAX` is set (celery 5.5+ calls `close()`, not Django's
`close_if_unusable_or_obsolete()`): a worker opened a new PostgreSQL connection per task whatever
`DB_CONN_MAX_AGE` said, and a notification send spent about as long connecting as sending
(docs/benchmarks.md, "Notification throughput"). dgt/settings.py therefore sets
`CELERY_DB_REUSE_MAX` so high that the fixup never closes, and the handlers below apply Django's own
rule between tasks instead, as it does between requests: `close_old_connections()` closes a
connection older than `CONN_MAX_AGE` (0: after every task, as before), one whose last error may
have broken it, or one left outside autocommit; `CONN_HEALTH_CHECKS` checks a kept connection
before the next task's first query, so one that a PostgreSQL restart broke is replaced instead of
failing that task.
"""
from __future__ import annotations

from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections


def _ran_by_a_worker(sender) -> bool:
    """False for a task applied inline (tests, embedded mode): its caller owns the connection."""
    return not getattr(getattr(sender, "request", None), "is_eager", False)


@task_prerun.connect
def connections_checked_before_task(sender=None, **_kwargs) -> None:
    """Before a worker's task: drop connections that Django's rule says must not be reused."""
    if _ran_by_a_worker(sender):
        close_old_connections()


@task_postrun.connect
def connections_checked_after_task(sender=None, **_kwargs) -> None:
    """After a worker's task: the same rule (CONN_MAX_AGE 0 closes here, after every task)."""
    if _ran_by_a_worker(sender):
        close_old_connections()
