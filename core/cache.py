"""The default cache: its Redis backend (`RedisCache`), and `cache_get` / `cache_set` where a request
can do without it: an outage (Redis dead or hung) costs a cache miss, never an error, and at most
one bounded wait per REDIS_BREAKER_OPEN_SECONDS per process (core.breaker "cache").
docs/operations.md "Faults on the request path"."""
from __future__ import annotations

import logging

from django.core.cache import cache
from django.core.cache.backends import redis as django_redis

from .breaker import breaker

log = logging.getLogger(__name__)
CACHE = breaker("cache")


def _guarded(what: str, call, fallback):
    """`call()` through the cache breaker: `fallback` while it is open, or (logged) when `call` fails."""
    if not CACHE.allow():
        return fallback
    try:
        value = call()
    except Exception as exc:
        CACHE.failure()
        log.warning("%s failed: %s", what, exc)
        return fallback
    CACHE.success()
    return value


def cache_get(key: str, default=None):
    """`cache.get(key)`, or `default` while the cache is unreachable."""
    return _guarded(f"cache get {key}", lambda: cache.get(key, default), default)


def cache_set(key: str, value, timeout: float) -> bool:
    """`cache.set(...)`; False (logged) while the cache is unreachable."""
    def store() -> bool:
        cache.set(key, value, timeout)
        return True

    return _guarded(f"cache set {key}", store, False)


class _OneClientPerPool(django_redis.RedisCacheClient):
    """Django's Redis cache client, except that each connection pool gets one `redis.Redis` client,
    built on first use and kept, instead of a new one on every cache call (~70 us of CPU each, about
    twice a round trip to Redis; a rate limit check makes three calls). A `redis.Redis` over a pool
    is safe to share between threads (redis-py); Django keeps one cache object, hence one pool, per
    thread."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(django_redis.RedisCache):
    """CACHES backend: `django.core.cache.backends.redis.RedisCache` with one client per connection
    pool (`_OneClientPerPool`); same options, keys and values."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _OneClientPerPool
