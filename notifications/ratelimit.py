"""The global send-rate limit (NOTIFICATION_RATE_LIMIT_PER_SECOND, 100 by default) shared by all
workers (docs/notifications.md, "Global rate limit").

Celery's `rate_limit` is per worker, so N workers would send N times the limit. The limiter
spaces the grants instead of counting them per clock second: every permit takes 1/limit s of a
shared timeline, and a caller is handed the next free moment on it (a reservation), sleeps until
then and sends. Two consecutive grants of `m` and `n` permits are at least `(m + n - 1) / limit`
seconds apart, which keeps ANY one-second window (not only the clock's seconds) at `limit`
permits at most: with single permits, 10 ms apart at 100/s. A caller never polls: it is told its
moment in one round trip and waits exactly that long, so while callers are waiting the rate is the
limit, and a caller that finds the timeline free sends at once.

A fixed window per clock second (what this module did before) let the end of one second and the
start of the next together carry up to twice the limit (measured: 120 sends in one second at
100/s, docs/benchmarks.md), and every refused caller slept to the next second.

Services mode keeps the timeline in Redis (one hash per limit key: the last grant's moment in
microseconds of the Redis server's clock and its permits; a Lua script reads and moves it
atomically, so every worker uses the same clock). Embedded mode (no Redis) keeps it in process
memory.
"""
from __future__ import annotations

import threading
import time
from functools import lru_cache

from django.conf import settings

from .providers.base import TransientProviderError

# KEYS[1] the limit's hash; ARGV[1] permits wanted, ARGV[2] microseconds per permit, ARGV[3] how far
# ahead (microseconds) a moment may be reserved. Returns {1, wait, moment} when granted (send after
# `wait` microseconds, at `moment` of the Redis clock), {0, wait, 0} when the next free moment is
# beyond the horizon (ask again after `wait`; nothing is written).
# Moments are written with %d: Lua's default number format (%.14g) would round a microsecond epoch.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wanted = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local last = redis.call('HMGET', KEYS[1], 'at', 'permits')
local at = now
if last[1] then
  local earliest = tonumber(last[1]) + (tonumber(last[2]) + wanted - 1) * interval
  if earliest > at then at = earliest end
end
if at - now > horizon then
  return {0, at - now - horizon, 0}
end
local moment = string.format('%d', at)
redis.call('HSET', KEYS[1], 'at', moment, 'permits', wanted)
redis.call('PEXPIRE', KEYS[1], math.floor((at - now) / 1000) + 60000)
return {1, at - now, moment}
"""


class RateLimiter:
    """Blocking limiter: `acquire(n)` returns at the moment `n` sends may go out.

    `limit`: permits per second (>= 1). `horizon`: how far ahead, in seconds, a moment may be
    reserved (default one second, i.e. `limit` single permits; callers beyond it wait and ask
    again), so a crowd of callers never books the timeline far into the future."""

    def __init__(self, *, limit: int, horizon: float = 1.0):
        if limit < 1:
            raise ValueError("limit must be at least 1 per second")
        self.limit = limit
        self.interval_us = -(-1_000_000 // limit)  # microseconds per permit, rounded up: never over the limit
        self.horizon_us = int(horizon * 1_000_000)

    def _reserve(self, permits: int) -> tuple[bool, float, int]:
        """(True, seconds to wait before sending, the moment reserved) when a moment was reserved;
        (False, seconds to wait before asking again, 0) when the next free moment is beyond the
        horizon (nothing reserved)."""
        raise NotImplementedError

    def acquire(self, permits: int = 1) -> int:
        """Block until `permits` (1..limit) sends may go out, counting them; returns the moment
        reserved for them (integer microseconds of the limiter's clock: the Redis server's
        epoch time, or this process's monotonic clock). Raises ValueError for permits outside
        1..limit; the Redis limiter raises TransientProviderError when Redis cannot be reached
        (nothing was counted)."""
        if not 1 <= permits <= self.limit:
            raise ValueError(f"permits must be between 1 and {self.limit}")
        while True:
            granted, wait, moment = self._reserve(permits)
            if wait > 0:
                time.sleep(wait)
            if granted:
                return moment


class RedisRateLimiter(RateLimiter):
    """The timeline in Redis at `key` (a hash), shared by every process using the same key."""

    def __init__(self, *, url: str, key: str, limit: int, horizon: float = 1.0):
        import redis

        super().__init__(limit=limit, horizon=horizon)
        self.key = key
        self._script = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).register_script(_RESERVE_LUA)

    def _reserve(self, permits: int) -> tuple[bool, float, int]:
        import redis

        try:
            granted, wait, moment = self._script(keys=[self.key], args=[permits, self.interval_us, self.horizon_us])
        except redis.RedisError as exc:
            # No limiter, no send: the notification goes back to queued and is retried later.
            raise TransientProviderError(f"rate limiter unavailable: {exc}") from exc
        return bool(granted), int(wait) / 1_000_000, int(moment)


class LocalRateLimiter(RateLimiter):
    """Process-local version for embedded mode (one process sends everything there); the same
    timeline on the monotonic clock, shared by the process's threads."""

    def __init__(self, *, limit: int, horizon: float = 1.0):
        super().__init__(limit=limit, horizon=horizon)
        self._lock = threading.Lock()
        self._last_at: int | None = None  # microseconds, monotonic clock
        self._last_permits = 0

    def _reserve(self, permits: int) -> tuple[bool, float, int]:
        with self._lock:
            now = time.monotonic_ns() // 1000
            at = now
            if self._last_at is not None:
                at = max(now, self._last_at + (self._last_permits + permits - 1) * self.interval_us)
            if at - now > self.horizon_us:
                return False, (at - now - self.horizon_us) / 1_000_000, 0
            self._last_at, self._last_permits = at, permits
            return True, (at - now) / 1_000_000, at


@lru_cache(maxsize=8)
def _limiter(url: str, key: str, limit: int) -> RateLimiter:
    if url:
        return RedisRateLimiter(url=url, key=f"{key}:timeline", limit=limit)
    return LocalRateLimiter(limit=limit)


def get_limiter() -> RateLimiter:
    """The limiter of this process: Redis-backed when REDIS_URL is set, local otherwise."""
    return _limiter(settings.REDIS_URL, settings.NOTIFICATION_RATE_LIMIT_KEY, settings.NOTIFICATION_RATE_LIMIT_PER_SECOND)
