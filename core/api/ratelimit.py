"""Rate limits for API views, on django-ratelimit's counters (docs/access-and-hardening.md).

Usage, on a DRF view method or a plain Django view function (stack several for several limits):

    from core.api.ratelimit import ratelimit

    class RefundView(APIView):
        @ratelimit(rate="wallet_refund", key="user")
        def post(self, request): ...

* `rate`: a name in settings.RATELIMIT_RATES ("30/m"; env RATELIMIT_<NAME>), read on every call so
  tests and operators can change it; or a literal "count/period" string.
* `key`: "ip" (the client IP from core.context: REMOTE_ADDR, or the rightmost untrusted
  X-Forwarded-For hop behind TRUSTED_PROXIES, so a client rotating X-Forwarded-For stays one
  key), "user" (the authenticated user's id; the IP for anonymous requests), "username" (the
  lower-cased `username` of the JSON body, for login), or a callable `(request) -> str`.
* `group`: the counter's name; defaults to the rate name plus the key kind, so two views with
  the same rate name share a budget only when they mean to.

Counting is django-ratelimit's fixed window in the default cache (Redis in services mode: all
processes share one count; LocMem embedded), or, with `sliding=True` (sign-in and refresh), a
sliding-window estimate over two fixed windows (`sliding_usage`): a fixed window lets up to twice
the limit through around its edge (10/m passed 12 wrong passwords in about 3 s), the estimate does
not (docs/access-and-hardening.md, "Rate limits"). Every request that reaches the view counts,
successful or not (a password guess costs the same either way). Over the limit the view is not
called: 429 with the error body of docs/architecture.md, code `rate_limited`, and `Retry-After` in seconds. Limits
run after authentication and permission checks (DRF's `initial()`), so a user without the
right is told 401/403, not 429.
"""
from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django_ratelimit.core import _split_rate, get_usage

from core.breaker import breaker
from core.context import client_ip, current
from core.errors import ServiceUnavailable

from .errors import error_body


def _ip(request) -> str:
    ip = current().ip_address or getattr(request, "client_ip", None)
    if ip is None:  # outside RequestContextMiddleware (unit tests calling a view directly)
        ip = client_ip(request.META, settings.TRUSTED_PROXIES)
    return ip or "unknown"


def _user(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{_ip(request)}"


def _username(request) -> str:
    data = getattr(request, "data", None)  # DRF Request: the parsed JSON body
    value = data.get("username") if hasattr(data, "get") else None
    return f"username:{str(value).strip().lower()[:150]}" if value else f"ip:{_ip(request)}"


KEYS: dict[str, Callable] = {"ip": _ip, "user": _user, "username": _username}


def _rate(rate: str) -> str:
    return settings.RATELIMIT_RATES.get(rate, rate) if "/" not in rate else rate


def sliding_usage(counter: str, *, limit: int, period: int, now: float | None = None) -> int | None:
    """Count one hit on `counter` and apply the two-window sliding estimate (the algorithm of
    Cloudflare's and nginx's rate limiters): hits in the current fixed window plus the previous
    window's hits weighted by the share of it still inside the sliding window,
    `previous * (period - elapsed) / period + current`. Returns None when that is within `limit`,
    else the seconds (>= 1) until it will be. Both counts live in the default cache (atomic
    add/incr: Redis in services mode, shared by every process), each kept two periods."""
    now = time.time() if now is None else now
    window = int(now // period)
    elapsed = now - window * period
    current_key = f"{settings.RATELIMIT_CACHE_PREFIX}sw:{counter}:{window}"
    cache.add(current_key, 0, timeout=2 * period + 1)
    try:
        current = cache.incr(current_key)
    except ValueError:  # expired between add and incr
        cache.add(current_key, 1, timeout=2 * period + 1)
        current = 1
    previous = cache.get(f"{settings.RATELIMIT_CACHE_PREFIX}sw:{counter}:{window - 1}", 0)
    if previous * (period - elapsed) / period + current <= limit:
        return None
    # Retry-After: when the estimate (no new hits) leaves room for one more hit.
    target = limit - 1
    if current <= target:  # the previous window's weight has to shrink, within this window
        wait = (period - elapsed) - (target - current) * period / previous
    else:  # after this window ends it becomes `previous` and decays from `current`
        wait = (period - elapsed) + period * (1 - target / current)
    return max(1, math.ceil(wait))


def check(request, *, rate: str, key: str | Callable, group: str | None = None, sliding: bool = False) -> int | None:
    """Count this request against the limit; return None when allowed, else the seconds to wait
    (>= 1). For code paths that are not views (e.g. Django admin actions). `sliding`: the
    two-window estimate (`sliding_usage`) instead of django-ratelimit's fixed window."""
    keyfn = KEYS[key] if isinstance(key, str) else key
    group = group or f"{rate}:{key if isinstance(key, str) else getattr(key, '__name__', 'custom')}"
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    if CACHE.allow():
        try:
            if sliding:
                limit, period = _split_rate(_rate(rate))
                digest = hashlib.sha256(keyfn(request).encode()).hexdigest()[:32]
                wait = sliding_usage(f"{group}:{digest}", limit=limit, period=period)
            else:
                usage = get_usage(request, group=group, key=lambda _g, r: keyfn(r), rate=_rate(rate), increment=True)
                wait = None if usage is None or not usage["should_limit"] else max(1, int(usage["time_left"]))
        except Exception:  # Redis dead or hung (bounded by the cache's socket timeouts)
            CACHE.failure()
        else:
            CACHE.success()
            return wait
    return _when_cache_down(rate, f"{group}:{keyfn(request)}")


CACHE = breaker("cache")
_local_lock = threading.Lock()
_local_counts: dict[tuple[str, int], int] = {}


def _when_cache_down(rate: str, counter: str) -> int | None:
    policy = settings.RATELIMIT_ON_CACHE_DOWN.get(rate, "local")
    if policy == "open":
        return None
    if policy == "closed":
        raise ServiceUnavailable("Rate limiting is unavailable; retry shortly.")
    limit, period = _split_rate(_rate(rate))
    now = time.time()
    window = int(now // period)
    with _local_lock:
        if len(_local_counts) > 100_000:  # old windows: drop them all rather than grow
            _local_counts.clear()
        count = _local_counts[(counter, window)] = _local_counts.get((counter, window), 0) + 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * period - now))


def too_many(wait: int) -> JsonResponse:
    """The 429 response: error body (docs/architecture.md) and Retry-After."""
    response = JsonResponse(error_body("rate_limited", f"Too many requests; retry in {wait} seconds."), status=429)
    response["Retry-After"] = str(wait)
    return response


def ratelimit(*, rate: str, key: str | Callable = "ip", group: str | None = None, sliding: bool = False):
    """Decorator: limit a view (function or DRF method) by `key` to `rate`; see the module doc."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            # A function view gets (request, ...); a method gets (self, request, ...).
            request = args[0] if isinstance(args[0], HttpRequest) or hasattr(args[0], "_request") else args[1]
            wait = check(request, rate=rate, key=key, group=group, sliding=sliding)
            if wait is not None:
                return too_many(wait)
            return view(*args, **kwargs)

        return wrapper

    return decorate
