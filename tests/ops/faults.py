"""The fault tests' stack and load: the Procfile's web, worker and relay processes pointed at a
private redis-server the test may stop or freeze (ports 19800-19839: this suite's range, never the
shared Redis) and at the test database or a private PostgreSQL cluster the test may restart;
approvals sent at a steady rate; what must have been delivered once the outage is over."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS

from listings.models import SearchDocument
from notifications.models import Notification, NotificationStatus
from outbox.models import EventOutbox, FollowUp, FollowUpStatus, OutboxStatus

from ..servers import (
    PrivateRedis, celery_worker, eventually, gunicorn, held_port, http_json, procfile_env, relay_loop, services_env,
)

PORTS = range(19800, 19840)

log = logging.getLogger(__name__)


@contextmanager
def dgt_stack(redis: PrivateRedis, logs: Path, *, database_url: str | None = None, **env_extra):
    """gunicorn (web), a Celery worker and the relay loop, all on `redis` and the test database (or
    `database_url`); web and worker with the variables their Procfile lines set (web's psycopg pool)."""
    db = {"DATABASE_URL": database_url} if database_url else {}
    env = services_env(REDIS_URL=redis.url, CELERY_BROKER_URL=redis.url, CHANNEL_PREFIX=f"dgt_faults_{redis.port}",
                       CELERY_TASK_ALWAYS_EAGER="0", **db, **env_extra)
    with ExitStack() as stack:
        http_port = stack.enter_context(held_port(PORTS.start, PORTS.stop))
        stack.enter_context(gunicorn(http_port, {**env, **procfile_env("web", env)}, logs / "web.log"))
        stack.enter_context(celery_worker({**env, **procfile_env("worker", env)}, logs / "worker.log"))
        stack.enter_context(relay_loop(env, logs / "relay.log"))
        base = f"http://127.0.0.1:{http_port.number}"
        # A loaded machine boots these slowly: the scenario starts once all three are serving.
        ready = eventually(lambda: http_json(f"{base}/healthz", timeout=10)[0] == 200
                           and _logged(logs / "worker.log", "ready.")
                           and _logged(logs / "relay.log", "relay loop started"), within=300, every=1)
        assert ready, "the stack did not come up"
        yield base


def everything_delivered(listing_ids: list[int], *, using: str = DEFAULT_DB_ALIAS) -> dict | None:
    """None while something is missing; the final counts once every approved listing of
    `listing_ids` is in search, every notification is sent, every event is sent and every
    follow-up is done (in database `using`)."""
    state = {
        "searchDocuments": SearchDocument.objects.using(using).filter(listing_id__in=listing_ids).count(),
        "notificationsNotSent": Notification.objects.using(using).exclude(status=NotificationStatus.SENT).count(),
        "notifications": Notification.objects.using(using).count(),
        "outboxNotSent": EventOutbox.objects.using(using).exclude(status=OutboxStatus.SENT).count(),
        "followUpsNotDone": FollowUp.objects.using(using).exclude(status=FollowUpStatus.DONE).count(),
    }
    done = (state["searchDocuments"] == len(listing_ids) and state["notificationsNotSent"] == 0
            and state["outboxNotSent"] == 0 and state["followUpsNotDone"] == 0)
    log.info("delivery state: %s", state)
    return state if done else None


def _logged(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


def approvals_at_rate(base: str, token: str, listing_ids: list[int], *, rate: float,
                      on_tick=None) -> list[dict]:
    """POST approve for each listing at `rate` per second (each in its own thread, so a slow answer
    never delays the schedule); `on_tick(i)` runs before the i-th request. Returns one dict per
    request: {listingId, status, seconds, body, headers}."""
    results: list[dict] = [None] * len(listing_ids)  # type: ignore[list-item]
    lock = threading.Lock()

    def one(i: int, listing_id: int) -> None:
        started = time.monotonic()
        status, body, headers = http_json(f"{base}/api/listings/{listing_id}/approve", {"reason": "ok"}, token=token)
        with lock:
            results[i] = {"listingId": listing_id, "status": status, "seconds": time.monotonic() - started,
                          "body": body, "headers": headers}

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i, listing_id in enumerate(listing_ids):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if on_tick is not None:
                on_tick(i)
            pool.submit(one, i, listing_id)
    return results


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0

