"""One error shape for the whole API: `{"error": {"code": "snake_code", "message": "...", "fields": {...}}}`.

Used as DRF's EXCEPTION_HANDLER and as Django's 404/500 handlers, so a client never has to parse
HTML or DRF's default `{"detail": ...}`.
"""
from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from core.errors import ErrorCode, ServiceError, ServiceUnavailable
from core.pools import pools_drain_after

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.ParseError: "parse_error",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ValidationError: "invalid",
}


log = logging.getLogger(__name__)


def _dependency_errors() -> tuple[type[BaseException], ...]:
    import redis
    from kombu.exceptions import OperationalError as BrokerError

    return (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError, BrokerError)


def is_dependency_down(exc: BaseException | None) -> bool:
    """Whether `exc` says PostgreSQL, Redis or the broker is unreachable (not a bug of ours)."""
    return exc is not None and (isinstance(exc, ServiceUnavailable) or isinstance(exc, _dependency_errors()))


def unavailable_response(exc: BaseException | None = None) -> JsonResponse:
    """503 in the error shape with Retry-After SERVICE_UNAVAILABLE_RETRY_AFTER seconds. When `exc`
    says a database connection was lost (PostgreSQL restarted), the process's pools are drained
    too (core.pools)."""
    pools_drain_after(exc)
    wait = settings.SERVICE_UNAVAILABLE_RETRY_AFTER
    response = JsonResponse(error_body(ErrorCode.SERVICE_UNAVAILABLE,
                                       f"A service is unavailable; retry in {wait} seconds."), status=503)
    response["Retry-After"] = str(wait)
    return response


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The error body of docs/architecture.md."""
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail) -> dict:
    """DRF validation detail -> {"fieldName": "first message"} (nested paths joined with '.')."""
    out: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            if value and all(not isinstance(v, (dict, list)) for v in value):
                out[prefix or "nonFieldErrors"] = str(value[0])
            else:
                for i, sub in enumerate(value):
                    walk(f"{prefix}.{i}" if prefix else str(i), sub)
        else:
            out[prefix or "nonFieldErrors"] = str(value)

    walk("", detail)
    if "non_field_errors" in out:
        out["nonFieldErrors"] = out.pop("non_field_errors")
    return out


def exception_handler(exc, context):
    """DRF exception handler rendering every error in the error shape of docs/architecture.md."""
    if isinstance(exc, ServiceError):
        headers = {"Retry-After": str(settings.SERVICE_UNAVAILABLE_RETRY_AFTER)} if exc.status == 503 else {}
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status, headers=headers)
    if is_dependency_down(exc):
        log.warning("dependency down: %s: %s", type(exc).__name__, exc)
        return unavailable_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django answer 500 (handler500 renders the shape)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = "; ".join(f"{k}: {v}" for k, v in fields.items()) or "Invalid input."
        return Response(error_body(code, message, fields), status=status.HTTP_400_BAD_REQUEST, headers=headers)
    detail = exc.detail
    detail_code = getattr(detail, "code", None)
    if isinstance(detail, dict):  # simplejwt's {"detail", "code", "messages"}
        detail_code = detail.get("code", detail_code)
        detail = detail.get("detail", detail)
    if detail_code and detail_code not in ("invalid", "error", "not_authenticated", "permission_denied"):
        code = str(detail_code)
    return Response(error_body(code, str(detail), getattr(exc, "fields", None)), status=exc.status_code,
                    headers=headers)


def bad_request_view(request, exception=None):
    """Django's 400 (e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a bad Host) in the API shape."""
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def permission_denied_view(request, exception=None):
    return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)


def not_found_view(request, exception=None):
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error_view(request):
    """Django's 500 in the API shape; a database, Redis or broker outage is 503 + Retry-After
    instead (Django calls this inside its `except`, so the exception is at hand)."""
    exc = sys.exc_info()[1]
    if is_dependency_down(exc):
        return unavailable_response(exc)
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
