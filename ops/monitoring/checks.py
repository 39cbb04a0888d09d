"""django-health-check checks for `/readyz`: database, cache, Redis (services mode) and broker."""
from __future__ import annotations

import dataclasses
import datetime

from django.conf import settings
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from redis.asyncio import Redis as AsyncRedis

from .queues import broker_connection


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection (the in-process memory broker always does)."""

    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=2), repr=False)

    def run(self):
        seconds = self.timeout.total_seconds()
        try:
            with broker_connection(seconds) as conn:
                conn.ensure_connection(max_retries=0, timeout=seconds)  # one attempt: the probe is retried
        except Exception as exc:  # kombu wraps every transport's errors differently
            raise ServiceUnavailable(f"Broker unreachable ({type(exc).__name__}: {str(exc)[:200]})") from exc


def readiness_checks() -> list[tuple[str, HealthCheck]]:
    """(name, check) pairs for the current settings, built per request so tests may override them."""
    timeout = datetime.timedelta(seconds=settings.BROKER_CHECK_TIMEOUT_SECONDS)
    checks: list[tuple[str, HealthCheck]] = [("database", Database()), ("cache", Cache())]
    if settings.REDIS_URL:
        url = settings.REDIS_URL
        checks.append(("redis", Redis(client_factory=lambda: AsyncRedis.from_url(
            url, socket_connect_timeout=timeout.total_seconds(), socket_timeout=timeout.total_seconds()))))
    checks.append(("broker", Broker(timeout=timeout)))
    return checks
