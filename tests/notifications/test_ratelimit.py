"""The global 100/s send limit: shared by every worker process through Redis."""
from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings

from notifications.ratelimit import LocalRateLimiter, RedisRateLimiter

LIMIT = 100


def _worker(url: str, key: str, sends: int, start_at: float, out) -> None:
    limiter = RedisRateLimiter(url=url, key=key, limit=LIMIT)
    while time.time() < start_at:
        time.sleep(0.001)
    stamps = []
    for _ in range(sends):
        limiter.acquire()
        stamps.append(time.time())  # the moment this process would call the provider
    out.put(stamps)


def _per_second(stamps) -> Counter:
    return Counter(int(s) for s in stamps)


@pytest.mark.redis
def test_two_worker_processes_share_the_limit_of_100_per_second():
    # Given two processes that each want to send 150 messages as fast as they can.
    key = f"{settings.NOTIFICATION_RATE_LIMIT_KEY}:test:{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    # Both start together after the spawn, early in a second, so each window fills well away
    # from its edges and a stamp taken just after the grant lands in the grant's window.
    start_at = int(time.time()) + 2.1
    procs = [ctx.Process(target=_worker, args=(settings.REDIS_URL, key, 150, start_at, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)

    # Then together they never exceed 100 in any one-second window, and both got to send.
    stamps = results[0] + results[1]
    per_second = _per_second(stamps)
    assert len(stamps) == 300
    assert max(per_second.values()) <= LIMIT, per_second
    assert len(per_second) >= 3  # 300 sends need at least three windows
    assert all(len(r) == 150 for r in results)


def test_local_limiter_holds_the_limit_across_threads():
    limiter = LocalRateLimiter(limit=20)
    stamps, lock = [], threading.Lock()

    start_at = int(time.time()) + 1.1

    def worker():
        while time.time() < start_at:
            time.sleep(0.001)
        for _ in range(25):
            limiter.acquire()
            with lock:
                stamps.append(time.time())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    per_second = _per_second(stamps)
    assert len(stamps) == 50
    assert max(per_second.values()) <= 20, per_second
    assert len(per_second) >= 3


def test_permits_outside_1_to_limit_are_refused():
    limiter = LocalRateLimiter(limit=5)
    with pytest.raises(ValueError):
        limiter.acquire(6)
    with pytest.raises(ValueError):
        limiter.acquire(0)


def test_an_unreachable_redis_is_a_transient_error():
    from notifications.providers import TransientProviderError

    limiter = RedisRateLimiter(url="redis://127.0.0.1:19601/0", key="k", limit=LIMIT)  # nothing listens there
    with pytest.raises(TransientProviderError, match="rate limiter unavailable"):
        limiter.acquire()
