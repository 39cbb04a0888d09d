"""Circuit breakers for the services a request only needs after its commit (Redis: channel
layer, Celery broker, rate-limit cache) -- docs/operations.md "Faults on the request path".

After a failure a breaker stays open for REDIS_BREAKER_OPEN_SECONDS: callers skip the service
(the outbox relay or a local fallback covers what they skipped) instead of each waiting for its
own socket timeout on a dead or hung Redis. Then one caller is let through to try again; a
success closes the breaker. Process-local and lock-free: a race lets at most a few extra calls
through, which is harmless.
"""
from __future__ import annotations

import time

from django.conf import settings


class Breaker:
    """`allow()` before calling the service, then `success()` or `failure()`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.open_until = 0.0

    def allow(self) -> bool:
        """False while open. Past the open period one caller gets True (the probe)."""
        now = time.monotonic()
        if now < self.open_until:
            return False
        if self.open_until:
            self.open_until = now + settings.REDIS_BREAKER_OPEN_SECONDS  # others wait for the probe
        return True

    def failure(self) -> None:
        self.open_until = time.monotonic() + settings.REDIS_BREAKER_OPEN_SECONDS

    def success(self) -> None:
        self.open_until = 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until


_breakers: dict[str, Breaker] = {}


def breaker(name: str) -> Breaker:
    """The process's breaker called `name` ("broker", "layer", "cache")."""
    return _breakers.setdefault(name, Breaker(name))


def reset_all() -> None:
    """Close every breaker (tests)."""
    for item in _breakers.values():
        item.success()
