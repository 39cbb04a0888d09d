"""Accepts or generates X-Request-ID, resolves the client IP, returns X-Request-ID on every
response, and logs every response once (the access line; docs/access-and-hardening.md, "Logs")."""
import logging
import time

from django.conf import settings

from .context import clean_request_id, client_ip, request_context

log = logging.getLogger("dgt.access")
PROBES = ("/healthz", "/readyz", "/metrics")


def _error_code(response) -> str:
    data = getattr(response, "data", None)  # DRF responses keep the body they render
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return f" {data['error'].get('code')}"
    return ""


def log_response(request, response, started: float) -> None:
    """`GET /api/listings 403 permission_denied 3ms`: 2xx/3xx at INFO (probes at DEBUG), 4xx at
    WARNING, once, without a traceback. 5xx are left to django.request (ERROR, with traceback)."""
    status = response.status_code
    if status >= 500:
        return
    level = logging.WARNING if status >= 400 else logging.DEBUG if request.path in PROBES else logging.INFO
    if log.isEnabledFor(level):
        log.log(level, "%s %s %s%s %dms", request.method, request.path, status, _error_code(response),
                (time.monotonic() - started) * 1000)


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        request.request_id = clean_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.client_ip = client_ip(request.META, settings.TRUSTED_PROXIES)
        with request_context(request.request_id, request.client_ip):
            response = self.get_response(request)
            log_response(request, response, started)
        response["X-Request-ID"] = request.request_id
        return response
