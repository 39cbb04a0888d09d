"""Fixtures for the rate-limit tests: counters on and empty (LocMem or this worktree's Redis db)."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache


def clear_rate_counters() -> None:
    """Delete every rate-limit counter: LocMem is cleared; on Redis only `*dgt:rl:*` keys go."""
    if django_settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(django_settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"*{django_settings.RATELIMIT_CACHE_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture
def ratelimits(settings):
    """Rate limiting on, with fresh counters; returns the settings fixture to set rates on."""
    settings.RATELIMIT_ENABLE = True
    clear_rate_counters()
    yield settings
    clear_rate_counters()
