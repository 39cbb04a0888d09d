"""The default cache where a request can do without it: an outage (Redis dead or hung) costs a
cache miss, never an error, and at most one bounded wait per REDIS_BREAKER_OPEN_SECONDS per process
(core.breaker "cache"). docs/operations.md "Faults on the request path"."""
from __future__ import annotations

import logging

from django.core.cache import cache

from .breaker import breaker

log = logging.getLogger(__name__)
CACHE = breaker("cache")


def cache_get(key: str, default=None):
    """`cache.get(key)`, or `default` while the cache is unreachable."""
    if not CACHE.allow():
        return default
    try:
        value = cache.get(key, default)
    except Exception as exc:
        CACHE.failure()
        log.warning("cache get %s failed: %s", key, exc)
        return default
    CACHE.success()
    return value


def cache_set(key: str, value, timeout: float) -> bool:
    """`cache.set(...)`; False (logged) while the cache is unreachable."""
    if not CACHE.allow():
        return False
    try:
        cache.set(key, value, timeout)
    except Exception as exc:
        CACHE.failure()
        log.warning("cache set %s failed: %s", key, exc)
        return False
    CACHE.success()
    return True
