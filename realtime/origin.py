"""Origin check for websockets, before accept.

Browsers always send Origin, so a foreign page's script is refused here (cross-site websocket
hijacking). A request without Origin comes from a non-browser client, which authenticates with
a token and has no ambient credentials to abuse; it is let through.
Allowed: the CORS_ORIGIN list (the apps' origins, exact), and the socket's own origin: same
host *and port* as the request's Host header, that host being in ALLOWED_HOSTS (the admin
dashboard). Another port on an allowed host is another origin and is refused.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


_DEFAULT_PORTS = {"http": "80", "https": "443"}


def origin_allowed(origin: str | None, host_header: str | None = None) -> bool:
    """Whether a websocket handshake with this Origin may proceed (see the module doc).
    Without a Host header (test clients only; browsers always send it) the port is not compared."""
    if not origin:
        return True
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host, port = split_domain_port(parts.netloc.lower())
    if not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    if host_header is None:
        return True
    req_host, req_port = split_domain_port(host_header.lower())
    default = _DEFAULT_PORTS[parts.scheme]
    return host == req_host and (port or default) == (req_port or default)


class OriginCheck:
    """ASGI middleware: deny the websocket handshake (HTTP 403) from a foreign Origin."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers", []))
            origin, host = headers.get(b"origin"), headers.get(b"host")
            if not origin_allowed(origin and origin.decode("latin1"), host and host.decode("latin1")):
                denier = WebsocketDenier()
                return await denier(scope, receive, send)
        return await self.app(scope, receive, send)
