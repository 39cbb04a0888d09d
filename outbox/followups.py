"""The task outbox: every Celery task a change needs after commit, recorded in its transaction.

A service calls `followup_enqueue(task=..., kwargs=...)` inside its transaction (instead of
`transaction.on_commit(lambda: task.delay(...))`). That writes a FollowUp row, so the follow-up
commits or rolls back with the change. After commit ONE Celery message (`outbox.tasks.followups_run`)
carries the ids of every follow-up of the transaction; the worker fans them out to their own
queues (CELERY_TASK_ROUTES); a transaction with a single follow-up sends that task's own message
instead (no fan-out hop). A task that succeeds marks its row done (a `task_postrun`
handler reading the `dgt_followup` header); one that fails makes it due again after
FOLLOWUP_FAILED_RETRY_SECONDS. Whatever did not happen -- the broker was down or hung
at commit, the message was lost, the worker died -- is dispatched again by `followups_relay`:
rows whose publish failed are due at once (the relay loop tries every OUTBOX_RELAY_LOOP_SECONDS),
rows dispatched but not done are due again after FOLLOWUP_REDISPATCH_SECONDS, doubling up to
OUTBOX_BACKOFF_MAX_SECONDS; after FOLLOWUP_MAX_DISPATCHES a row is failed and named in an
`admin.alert`. The tasks are idempotent (they receive ids and re-read state), so a second run
changes nothing. Never raises after commit: the change has committed and its request must not be
answered with an error (docs/operations.md "Faults on the request path").
"""
from __future__ import annotations

import importlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from celery import current_app
from celery.exceptions import NotRegistered
from celery.signals import task_postrun
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.breaker import breaker
from core.compiled import CompiledInsert
from core.context import current
from core.tasks import TRANSIENT_DATABASE_ERRORS

from .alerts import admin_alert
from .models import FollowUp, FollowUpStatus

log = logging.getLogger(__name__)

HEADER = "dgt_followup"
DISPATCH_TASK = "outbox.tasks.followups_run"
BROKER = breaker("broker")
# One INSERT whose SQL is built once per row count (more than 16 rows: bulk_create).
_INSERT = CompiledInsert(FollowUp)


class _Batch:
    """The follow-ups of one transaction; called once by its on-commit hook."""

    def __init__(self) -> None:
        # (row, task, kwargs): the row's id is read at commit (core.compiled.inserts_together sets it late)
        self.items: list[tuple[FollowUp, str, dict]] = []
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        followups_send(items=[(row.id, task, kwargs) for row, task, kwargs in self.items])


def _batch_of_transaction() -> _Batch | None:
    """The batch whose hook is registered in the current transaction (None in autocommit)."""
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        return None
    batch = getattr(conn, "_dgt_followups", None)
    # Reuse the batch only while its hook is queued (a rolled-back savepoint drops its hooks) and was
    # registered in a block that is still open: a hook registered inside a savepoint that has since
    # been released belongs to an earlier unit of work (e.g. an earlier request inside a test's
    # transaction), whose hook runs on its own.
    open_savepoints = set(conn.savepoint_ids)
    if batch is None or batch.sent or not any(
            func is batch and sids <= open_savepoints for sids, func, _robust in conn.run_on_commit):
        batch = _Batch()
        conn._dgt_followups = batch
        transaction.on_commit(batch, robust=True)
    return batch


_local = threading.local()


def request_connection():
    """This thread's broker connection for publishing on the request path: kombu's connection
    retries are off (`max_retries: 0`), so a dead broker fails the publish at once instead of
    after kombu's 2 s retry sleep. Workers keep the default connection (they must reconnect)."""
    conn = getattr(_local, "connection", None)
    if conn is None:
        options = {**(current_app.conf.broker_transport_options or {}), "max_retries": 0}
        conn = _local.connection = current_app.connection_for_write(transport_options=options)
    return conn


def request_connection_reset() -> None:
    """Drop this thread's request-path connection after a broker error (the next publish opens a
    fresh one, so a broker that came back is used at once)."""
    conn = getattr(_local, "connection", None)
    _local.connection = None
    if conn is not None:
        try:
            conn.release()
        except Exception:  # already broken
            pass


def followup_enqueue(*, task: str, kwargs: dict) -> int | None:
    """Record that Celery task `task` (its registered name) must run with `kwargs` (JSON-safe)
    after the current transaction commits. Returns the FollowUp id (None inside `followups_together`,
    which writes the row when its block ends, or inside core.compiled.inserts_together). Outside a transaction the row is written and
    dispatched at once."""
    ids = followups_enqueue(items=[(task, kwargs)])
    return ids[0] if ids else None


def followups_enqueue(*, items: Iterable[tuple[str, dict]]) -> list[int | None]:
    """`followup_enqueue` for several `(task, kwargs)` at once: one INSERT, one message after commit.
    Inside `followups_together` the items join its block's INSERT and `[]` is returned; inside
    core.compiled.inserts_together the ids are None (the rows are written when that block ends)."""
    collected = getattr(transaction.get_connection(), "_dgt_followups_collected", None)
    if collected is not None:
        collected.extend(items)
        return []
    return _insert(list(items))


@contextmanager
def followups_together() -> Iterator[None]:
    """Write every follow-up enqueued inside the block -- by this service or by the services it
    calls -- with ONE INSERT when the block ends, still inside the caller's transaction (use it
    within `transaction.atomic`; listing_approve records the search update and the owner's
    notification send this way, docs/benchmarks.md). An exception leaving the block writes none of
    them (the transaction rolls back with it). A nested block joins the outer one."""
    conn = transaction.get_connection()
    if getattr(conn, "_dgt_followups_collected", None) is not None:
        yield
        return
    collected: list[tuple[str, dict]] = []
    conn._dgt_followups_collected = collected
    try:
        yield
    finally:
        conn._dgt_followups_collected = None
    if collected:
        _insert(collected)


def _insert(items: list[tuple[str, dict]]) -> list[int | None]:
    """The FollowUp rows of `items` in one INSERT, sent after commit (at once in autocommit); their
    ids are None inside core.compiled.inserts_together (written when that block ends).
    Where OUTBOX_SEND_AFTER_COMMIT is off (the Procfile's `web` line) nothing is sent: the rows are
    written due at once and the relay loop (outbox.due) dispatches them within OUTBOX_RELAY_POLL_SECONDS."""
    now = timezone.now()
    sends = settings.OUTBOX_SEND_AFTER_COMMIT
    due = now + timedelta(seconds=settings.FOLLOWUP_REDISPATCH_SECONDS) if sends else now
    request_id = current().request_id
    rows = _INSERT.insert([FollowUp(task=task, kwargs=kwargs, request_id=request_id, next_attempt_at=due,
                                    created_at=now) for task, kwargs in items])
    if sends:
        batch = _batch_of_transaction()
        if batch is None:
            followups_send(items=[(row.id, task, kwargs) for row, (task, kwargs) in zip(rows, items)])
        else:
            batch.items.extend((row, task, kwargs) for row, (task, kwargs) in zip(rows, items))
    return [row.id for row in rows]


def followups_send(*, items: list[tuple[int, str, dict]]) -> bool:
    """Publish the one message that runs committed follow-ups `items` ((row id, task, kwargs)).
    Never raises.

    Several follow-ups go out as one `followups_run` message carrying their ids (the worker fans
    them out). A lone follow-up (a refund's notification send, one recorded notification) goes out
    as its own task's message, with the row id in its header, as the fan-out would send it: one
    task instead of two (docs/benchmarks.md, "Notification throughput").
    While the broker is known to be down (core.breaker) nothing is tried; on failure the rows are
    made due at once, so the relay loop dispatches them as soon as the broker answers again.
    Returns True when the message was handed to the broker.
    """
    if not items:
        return True
    ids = [row_id for row_id, _, _ in items]
    if BROKER.allow():
        try:
            if len(items) == 1:
                _fan_out(*items[0], connection=request_connection())
            else:
                _task(DISPATCH_TASK).apply_async(kwargs={"ids": ids}, connection=request_connection())
            BROKER.success()
            return True
        except Exception as exc:  # broker down or hung (bounded by its socket timeouts)
            if not current_app.conf.task_always_eager:  # inline, it is the task's own error
                BROKER.failure()
                request_connection_reset()
            log.warning("follow-ups %s not dispatched, left to the relay: %s", ids, exc)
    try:
        FollowUp.objects.filter(id__in=ids, status=FollowUpStatus.PENDING).update(next_attempt_at=timezone.now())
    except Exception as exc:  # database gone too: they fall due at next_attempt_at anyway
        log.warning("follow-ups %s not marked due: %s", ids, exc)
    return False


def _task(name: str):
    """The registered Celery task `name`, importing its module first if no one did yet (a web
    process imports task modules lazily)."""
    try:
        return current_app.tasks[name]
    except NotRegistered:
        importlib.import_module(name.rsplit(".", 1)[0])
        return current_app.tasks[name]


def _fan_out(row_id: int, task: str, kwargs: dict, **options) -> None:
    """Publish follow-up `row_id`'s own task; its header lets the worker mark the row done."""
    _task(task).apply_async(kwargs=kwargs, headers={HEADER: row_id}, **options)


def followups_run(*, ids: list[int]) -> int:
    """Worker side of the message: send each pending follow-up of `ids` to its task's queue.
    Returns how many were sent on. A broker error propagates (the rows stay pending)."""
    rows = FollowUp.objects.filter(id__in=ids, status=FollowUpStatus.PENDING).order_by("id")
    count = 0
    for row_id, task, kwargs in rows.values_list("id", "task", "kwargs"):
        _fan_out(row_id, task, kwargs)
        count += 1
    return count


def redispatch_seconds(dispatches: int) -> int:
    """Wait before dispatching again a row dispatched `dispatches` times and not done yet."""
    return int(min(settings.FOLLOWUP_REDISPATCH_SECONDS * 2 ** max(dispatches - 1, 0),
                   settings.OUTBOX_BACKOFF_MAX_SECONDS))


def followups_relay(*, limit: int | None = None) -> dict:
    """Dispatch due pending follow-ups (claimed FOR UPDATE SKIP LOCKED: two relays never take the
    same row), oldest due first, stopping at the first broker error (the rows stay due, the next
    run retries). Rows never dispatched go out as ONE `followups_run` message (the worker fans them
    out, as after a request's commit); rows dispatched before go out one by one to their queues.
    Returns {"dispatched", "failed", "error"}."""
    limit = limit or settings.OUTBOX_RELAY_BATCH
    stats = {"dispatched": 0, "failed": 0, "error": ""}
    with transaction.atomic():
        now = timezone.now()
        rows = list(FollowUp.objects.select_for_update(skip_locked=True)
                    .filter(status=FollowUpStatus.PENDING, next_attempt_at__lte=now)
                    .order_by("next_attempt_at", "id").values_list("id", "task", "kwargs", "dispatches")[:limit])
        by_dispatches: dict[int, list[int]] = defaultdict(list)
        failed: list[int] = []
        fresh = [row_id for row_id, _task_name, _kwargs, dispatches in rows if dispatches == 0]
        try:
            if fresh:  # never dispatched (the web line leaves them to the relay): ONE message, as a request sent
                _task(DISPATCH_TASK).apply_async(kwargs={"ids": fresh})
                by_dispatches[1] = fresh
            for row_id, task, kwargs, dispatches in rows:
                if dispatches >= settings.FOLLOWUP_MAX_DISPATCHES:
                    failed.append(row_id)
                elif dispatches:
                    _fan_out(row_id, task, kwargs)
                    by_dispatches[dispatches + 1].append(row_id)
        except Exception as exc:
            BROKER.failure()
            stats["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        for dispatches, ids in by_dispatches.items():
            FollowUp.objects.filter(id__in=ids, status=FollowUpStatus.PENDING).update(
                dispatches=dispatches, last_error="",
                next_attempt_at=now + timedelta(seconds=redispatch_seconds(dispatches)))
            stats["dispatched"] += len(ids)
        if by_dispatches:
            BROKER.success()
        if failed:
            FollowUp.objects.filter(id__in=failed).update(
                status=FollowUpStatus.FAILED, last_error="not done after the last dispatch")
            stats["failed"] = len(failed)
            admin_alert(kind="followup.failed",
                        message=f"{len(failed)} follow-up task(s) not done after "
                                f"{settings.FOLLOWUP_MAX_DISPATCHES} dispatches",
                        data={"followUpIds": failed[:50], "count": len(failed)})
    if stats["error"]:
        log.warning("follow-up relay stopped: %s", stats["error"])
    return stats


def followup_retry(*, followup_id: int) -> bool:
    """Put a failed follow-up back to pending, due at once (an admin's retry). True if it was failed."""
    return bool(FollowUp.objects.filter(pk=followup_id, status=FollowUpStatus.FAILED).update(
        status=FollowUpStatus.PENDING, dispatches=0, next_attempt_at=timezone.now(), last_error=""))


def followups_purge(*, now=None) -> int:
    """Delete done follow-ups older than OUTBOX_RETENTION. Returns how many."""
    cutoff = (now or timezone.now()) - settings.OUTBOX_RETENTION
    return FollowUp.objects.filter(status=FollowUpStatus.DONE, created_at__lt=cutoff).delete()[0]


def _followup_id(task) -> int | None:
    request = getattr(task, "request", None)
    value = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)
    return int(value) if value else None


@task_postrun.connect
def _after_task(sender=None, state=None, **_kwargs) -> None:
    """A task dispatched for a follow-up returned: SUCCESS marks its row done (one UPDATE in the
    worker); a failure that is not a scheduled retry (e.g. its retry could not be published
    because the broker went down) makes the row due again soon, for the relay. With the database
    unavailable the row is left as it is (logged): pending, it is dispatched again after
    FOLLOWUP_REDISPATCH_SECONDS and the idempotent task finds its work done."""
    row_id = _followup_id(sender)
    if row_id is None or state == "RETRY":
        return
    try:
        if state == "SUCCESS":
            followup_mark_done(row_id)
            return
        FollowUp.objects.filter(pk=row_id, status=FollowUpStatus.PENDING).update(
            next_attempt_at=timezone.now() + timedelta(seconds=settings.FOLLOWUP_FAILED_RETRY_SECONDS))
    except TRANSIENT_DATABASE_ERRORS as exc:  # PostgreSQL restarting: the row stays pending
        log.warning("follow-up %s ended %s but its row was not updated, the database is unavailable: %s",
                    row_id, state, exc)


# PostgreSQL: the UPDATE also turns synchronous_commit off for its own transaction (autocommit in a
# worker), so the worker does not wait for a WAL flush per task (as wallet.idempotency's claim).
_MARK_DONE_PG = (
    "UPDATE {table} SET status = %s, done_at = %s WHERE id = %s AND status = %s"
    " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
)


def followup_mark_done(row_id: int) -> int:
    """Mark the pending follow-up `row_id` done (after its task succeeded); 1 if it was pending.

    On PostgreSQL its commit does not wait for the disk: a crash may forget the mark of the last
    ~200 ms (wal_writer_delay), and a forgotten mark only means the relay dispatches the task again
    after FOLLOWUP_REDISPATCH_SECONDS, which finds its work done (follow-up tasks are idempotent:
    docs/operations.md). A notification send committed three flushes per send and was bound by
    them (docs/benchmarks.md, "Notifications")."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        return FollowUp.objects.filter(pk=row_id, status=FollowUpStatus.PENDING).update(
            status=FollowUpStatus.DONE, done_at=now)
    with connection.cursor() as cursor:
        cursor.execute(_MARK_DONE_PG.format(table=connection.ops.quote_name(FollowUp._meta.db_table)),
                       [FollowUpStatus.DONE, now, row_id, FollowUpStatus.PENDING])
        return cursor.rowcount
