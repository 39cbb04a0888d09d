"""Websocket paths of the ASGI application: `/ws/events/` (realtime.wsevents); any other path is
refused at the handshake (HTTP 403), as a foreign Origin is."""
from __future__ import annotations

from channels.security.websocket import WebsocketDenier

from .wsevents.socket import events_app

EVENTS_PATH = "/ws/events/"


async def websocket_app(scope, receive, send) -> None:
    """ASGI: route a websocket scope by its path (without `root_path`)."""
    path = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    if path == EVENTS_PATH:
        return await events_app(scope, receive, send)
    return await WebsocketDenier()(scope, receive, send)
