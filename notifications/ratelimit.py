"""The global send-rate limit (NOTIFICATION_RATE_LIMIT_PER_SECOND, 100 by default) shared by all
workers.

Celery's `rate_limit` is per worker, so N workers would send N times the limit. Services mode
counts sends in Redis: a fixed window per second of the Redis server's clock (one key per
second, INCRBY in a Lua script, so check-and-count is atomic and every worker uses the same
clock). A caller over the limit is told how long until the next window and sleeps. Embedded
mode (no Redis) uses the same window logic in process memory.
"""
from __future__ import annotations

import random
import threading
import time
from functools import lru_cache

from django.conf import settings

from .providers.base import TransientProviderError

# KEYS[1] key prefix; ARGV[1] permits wanted, ARGV[2] limit per second.
# Returns 0 when granted, else the microseconds left in the current second.
_ACQUIRE_LUA = """
local now = redis.call('TIME')
local key = KEYS[1] .. ':' .. now[1]
local wanted = tonumber(ARGV[1])
local count = redis.call('INCRBY', key, wanted)
if count == wanted then redis.call('EXPIRE', key, 5) end
if count > tonumber(ARGV[2]) then
  redis.call('DECRBY', key, wanted)
  return 1000000 - tonumber(now[2])
end
return 0
"""


class RateLimiter:
    """Blocking limiter: `acquire(n)` returns once `n` sends fit in the current one-second window."""

    def __init__(self, *, limit: int):
        if limit < 1:
            raise ValueError("limit must be at least 1 per second")
        self.limit = limit

    def _try(self, permits: int) -> float:
        """0 when granted, else seconds to wait before trying again."""
        raise NotImplementedError

    def acquire(self, permits: int = 1) -> None:
        """Block until `permits` (1..limit) sends are allowed, then count them."""
        if not 1 <= permits <= self.limit:
            raise ValueError(f"permits must be between 1 and {self.limit}")
        while True:
            wait = self._try(permits)
            if wait <= 0:
                return
            # A little jitter so the waiting workers do not all hit Redis in the same millisecond.
            time.sleep(wait + random.uniform(0, 0.005))


class RedisRateLimiter(RateLimiter):
    def __init__(self, *, url: str, key: str, limit: int):
        import redis

        super().__init__(limit=limit)
        self.key = key
        self._script = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).register_script(_ACQUIRE_LUA)

    def _try(self, permits: int) -> float:
        import redis

        try:
            return int(self._script(keys=[self.key], args=[permits, self.limit])) / 1_000_000
        except redis.RedisError as exc:
            # No limiter, no send: the notification goes back to queued and is retried later.
            raise TransientProviderError(f"rate limiter unavailable: {exc}") from exc


class LocalRateLimiter(RateLimiter):
    """Process-local version for embedded mode (one process sends everything there)."""

    def __init__(self, *, limit: int):
        super().__init__(limit=limit)
        self._lock = threading.Lock()
        self._window = 0
        self._count = 0

    def _try(self, permits: int) -> float:
        with self._lock:
            now = time.time()
            window = int(now)
            if window != self._window:
                self._window, self._count = window, 0
            if self._count + permits > self.limit:
                return window + 1 - now
            self._count += permits
            return 0


@lru_cache(maxsize=8)
def _limiter(url: str, key: str, limit: int) -> RateLimiter:
    if url:
        return RedisRateLimiter(url=url, key=key, limit=limit)
    return LocalRateLimiter(limit=limit)


def get_limiter() -> RateLimiter:
    """The limiter of this process: Redis-backed when REDIS_URL is set, local otherwise."""
    return _limiter(settings.REDIS_URL, settings.NOTIFICATION_RATE_LIMIT_KEY, settings.NOTIFICATION_RATE_LIMIT_PER_SECOND)
