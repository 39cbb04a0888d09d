"""The default cache where a request can do without it: an outage (Redis dead or hung) costs a
cache miss, never an error, and at most one bounded wait per REDIS_BREAKER_OPEN_SECONDS per process
(core.breaker "cache"). docs/operations.md "Faults on the request path"."""
from __future__ import annotations

import logging

from django.core.cache import cache

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
