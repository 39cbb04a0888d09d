"""Accepts or generates X-Request-ID, resolves the client IP, and returns X-Request-ID on every response."""
from django.conf import settings

from .context import clean_request_id, client_ip, request_context


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = clean_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.client_ip = client_ip(request.META, settings.TRUSTED_PROXIES)
        with request_context(request.request_id, request.client_ip):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
