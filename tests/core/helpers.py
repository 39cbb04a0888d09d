"""Helpers shared through the core tests: rate-limit counters (LocMem, or this worktree's Redis
db) and `together`, the concurrency tests' way to start calls at once."""
from __future__ import annotations

import threading

from django.conf import settings
from django.core.cache import cache
from django.db import connections


def clear_rate_counters() -> None:
    """Delete every rate-limit counter: LocMem is cleared; on Redis only `*dgt:rl:*` keys go."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"*{settings.RATELIMIT_CACHE_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


def together(*calls, timeout: float = 120) -> list:
    """Run each call in its own thread, all released at once by a barrier, each on its own
    database connection (closed when it returns); their results in order, an exception in place
    of the result of a call that raised. For the PostgreSQL concurrency tests (transaction=True:
    the threads see only committed rows)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def one(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
