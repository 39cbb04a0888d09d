"""Helpers of the core tests: rate-limit counters (LocMem, or this worktree's Redis db)."""
from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


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
