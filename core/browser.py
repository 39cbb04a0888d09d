"""The middlewares only browser pages need (Django admin, /metrics for a signed-in admin), skipped on
the JSON API.

Sessions, `request.user` from the session and messages serve cookie-authenticated pages. The API
under /api/ authenticates with a bearer JWT alone (REST_FRAMEWORK's authentication classes) and no
API view reads a session or a message, so on /api/ these three did nothing but cost CPU on every
request (docs/benchmarks.md, "Per-request overhead"). Each class below is Django's own, except that
a request whose `path_info` (the path the URL resolver routes) starts with /api/ passes straight
through it; every other path (admin, /metrics, the probes) gets Django's behaviour unchanged.
Django's CSRF middleware stays as it is on every path (DRF views are CSRF-exempt; admin keeps its
protection; docs/access-and-hardening.md).
"""
from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware

API_PREFIX = "/api/"


def is_api(request) -> bool:
    """Whether `request` is routed to the JSON API (its `path_info` starts with /api/)."""
    return request.path_info.startswith(API_PREFIX)


class _SkippedOnApi:
    """Mixin: the wrapped middleware is bypassed for API requests (its hooks never run)."""

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_SkippedOnApi, _SessionMiddleware):
    """django.contrib.sessions' middleware, except on /api/ (no `request.session` there)."""


class AuthenticationMiddleware(_SkippedOnApi, _AuthenticationMiddleware):
    """django.contrib.auth's middleware (the session's user), except on /api/, where DRF's JWT
    authentication sets `request.user` (the row read from the database on every request)."""


class MessageMiddleware(_SkippedOnApi, _MessageMiddleware):
    """django.contrib.messages' middleware, except on /api/."""
