"""Reads behind `GET /api/admin/queues` and the queue gauges of `/metrics`.

Sources: the broker for messages waiting (kombu `queue_declare(passive=True)`, i.e. LLEN of the
queue's lists on Redis), worker inspection for active/reserved/scheduled tasks (a broadcast that
waits at most QUEUES_INSPECT_TIMEOUT_SECONDS), django-celery-results for finished tasks, and the
outbox table (`outbox.selectors.outbox_counts`). Each source that cannot be reached is reported under `errors`, never raised: this
is what an operator opens when something is down.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from django_celery_results.models import TaskResult
from kombu import Connection
from kombu.exceptions import ChannelError
from kombu.transport.virtual import Channel as VirtualChannel

from outbox.selectors import outbox_counts

log = logging.getLogger(__name__)


def broker_connection(timeout: float) -> Connection:
    """A fresh connection to the Celery broker that gives up after `timeout` seconds."""
    app = current_app
    options = {**(app.conf.broker_transport_options or {}), "socket_timeout": timeout,
               "socket_connect_timeout": timeout, "max_retries": 0}
    return Connection(app.conf.broker_url, connect_timeout=timeout, transport_options=options)


def broker_is_embedded() -> bool:
    """True for the in-process memory broker (embedded mode): nothing waits there and no worker exists."""
    return Connection(current_app.conf.broker_url).transport.driver_type == "memory"


def queue_waiting(*, queues: list[str], timeout: float) -> dict[str, int]:
    """Messages waiting in the broker per queue (0 for a queue never declared), over a fresh
    connection (a one-shot `KeptBrokerProbe`). Raises the transport's error when the broker
    cannot be reached."""
    probe = KeptBrokerProbe()
    try:
        return probe.waiting(queues=queues, timeout=timeout)
    finally:
        probe.close()


def _count_waiting(conn: Connection, channel, queues: list[str]) -> tuple[dict[str, int], object]:
    # ({queue: waiting}, the channel to use next). A passive declare of a queue nobody declared
    # yet raises ChannelError; an AMQP broker then closes the channel, so it is replaced. Virtual
    # transports (Redis) keep theirs: a new Redis channel is a new Redis connection.
    waiting = {}
    for queue in queues:
        try:
            waiting[queue] = channel.queue_declare(queue=queue, passive=True).message_count
        except ChannelError:  # no worker or producer declared it yet: nothing can be waiting
            waiting[queue] = 0
            if not isinstance(channel, VirtualChannel):
                channel.close()
                channel = conn.channel()
    return waiting, channel


class KeptBrokerProbe:
    """Queue depths over ONE kept broker connection and channel, for callers that ask every
    second (the live dashboard's `queueDepths`, docs/jobs-and-monitoring.md): a fresh connection
    per call cost a TCP connect, a HELLO and a PING per queue, a fifth of the ws process's CPU
    under load (docs/benchmarks.md). Thread-safe; after any error the connection is dropped and
    the next call connects again. `waiting()` raises the transport's error as `queue_waiting`."""

    def __init__(self):
        self._conn: Connection | None = None
        self._channel = None
        self._lock = threading.Lock()

    def waiting(self, *, queues: list[str], timeout: float) -> dict[str, int]:
        """{queue: messages waiting}; 0 each for the embedded memory broker (asked only while
        no connection is kept, not every second)."""
        with self._lock:
            try:
                if self._conn is None:
                    if broker_is_embedded():
                        return {q: 0 for q in queues}
                    conn = broker_connection(timeout)
                    self._conn = conn
                    conn.ensure_connection(max_retries=0, timeout=timeout)
                    self._channel = conn.channel()
                waiting, self._channel = _count_waiting(self._conn, self._channel, queues)
                return waiting
            except Exception:
                self.close()
                raise

    def close(self) -> None:
        """Release the kept connection (the next `waiting()` opens a new one)."""
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # already broken: nothing to release
                log.debug("broker probe: release failed", exc_info=True)


def _queue_of(task: dict) -> str:
    return (task.get("delivery_info") or {}).get("routing_key") or settings.CELERY_TASK_DEFAULT_QUEUE


def worker_tasks(*, timeout: float) -> dict:
    """Ask the workers what they hold: {"workers": [names], "active": Counter(queue), "reserved":
    Counter(queue), "scheduled": Counter(queue)}. One ping waits `timeout`; the inspections
    that follow return as soon as every worker that answered the ping has answered."""
    result = {"workers": [], "active": Counter(), "reserved": Counter(), "scheduled": Counter()}
    if broker_is_embedded():
        return result
    control = current_app.control
    pongs = control.inspect(timeout=timeout).ping() or {}
    workers = sorted(pongs)
    result["workers"] = workers
    if not workers:
        return result
    inspect = control.inspect(destination=workers, timeout=timeout, limit=len(workers))
    for kind in ("active", "reserved"):
        for tasks in (getattr(inspect, kind)() or {}).values():
            result[kind].update(_queue_of(t) for t in tasks)
    for entries in (inspect.scheduled() or {}).values():
        result["scheduled"].update(_queue_of(e.get("request") or {}) for e in entries)
    return result


def task_name_queue(name: str | None) -> str:
    """The queue CELERY_TASK_ROUTES sends task `name` to (the default queue when unrouted)."""
    if not name:
        return settings.CELERY_TASK_DEFAULT_QUEUE
    return current_app.amqp.router.route({}, name)["queue"].name


def task_results_by_queue(*, since: datetime) -> dict[str, dict[str, int]]:
    """Finished tasks since `since` per queue: {"completed": SUCCESS count, "failed": FAILURE count}
    (django-celery-results rows; one grouped query)."""
    out: dict[str, dict[str, int]] = {}
    rows = (TaskResult.objects.filter(date_done__gte=since, status__in=["SUCCESS", "FAILURE"])
            .values("task_name", "status").annotate(n=Count("id")))
    for row in rows:
        counts = out.setdefault(task_name_queue(row["task_name"]), {"completed": 0, "failed": 0})
        counts["completed" if row["status"] == "SUCCESS" else "failed"] += row["n"]
    return out


def queues_overview(*, window: timedelta = timedelta(hours=24)) -> dict:
    """The body of `GET /api/admin/queues`:

    {"queues": {name: {"waiting", "active", "scheduled", "completed", "failed"}},
     "outbox": {"pending", "sent", "failed", "oldestPendingAt"}, "workers": [names],
     "since": aware datetime (start of the completed/failed window), "errors": {source: message}}

    `waiting` counts messages in the broker plus those a worker has prefetched but not started
    (`reserved`); it is null when the broker cannot be reached. `active`/`scheduled` are 0 when
    no worker answers (listed in `workers`).
    """
    queues = list(settings.QUEUES)
    errors: dict[str, str] = {}
    timeout = settings.QUEUES_INSPECT_TIMEOUT_SECONDS
    try:
        waiting: dict[str, int | None] = queue_waiting(queues=queues, timeout=timeout)
    except Exception as exc:  # broker down: say so, keep answering
        log.warning("queues overview: broker unreachable: %s", exc)
        errors["broker"] = f"{type(exc).__name__}: {exc}"
        waiting = dict.fromkeys(queues)
    held = {"workers": [], "active": Counter(), "reserved": Counter(), "scheduled": Counter()}
    if "broker" not in errors:
        try:
            held = worker_tasks(timeout=timeout)
        except Exception as exc:
            log.warning("queues overview: worker inspection failed: %s", exc)
            errors["workers"] = f"{type(exc).__name__}: {exc}"
    since = timezone.now() - window
    finished = task_results_by_queue(since=since)
    body = {}
    for queue in queues:
        done = finished.get(queue, {"completed": 0, "failed": 0})
        body[queue] = {
            "waiting": None if waiting[queue] is None else waiting[queue] + held["reserved"][queue],
            "active": held["active"][queue],
            "scheduled": held["scheduled"][queue],
            "completed": done["completed"],
            "failed": done["failed"],
        }
    return {"queues": body, "outbox": outbox_counts(), "workers": held["workers"], "since": since, "errors": errors}
