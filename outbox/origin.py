"""Origin check for websockets, before accept.

Browsers always send Origin, so a foreign page's script is refused here (cross-site websocket
hijacking). A request without Origin comes from a non-browser client, which authenticates with
a token and has no ambient credentials to abuse; it is let through.
Allowed: ALLOWED_HOSTS (as for HTTP) and the CORS_ORIGIN list.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return True
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host, _port = split_domain_port(parts.netloc)
    return validate_host(host, settings.ALLOWED_HOSTS)


class OriginCheck:
    """ASGI middleware: deny the websocket handshake (HTTP 403) from a foreign Origin."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            origin = next((v.decode("latin1") for k, v in scope.get("headers", []) if k == b"origin"), None)
            if not origin_allowed(origin):
                denier = WebsocketDenier()
                return await denier(scope, receive, send)
        return await self.app(scope, receive, send)
