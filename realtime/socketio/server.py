"""The Socket.IO server: python-socketio's AsyncServer with dgt's auth, rooms and a recovery
that socket.io-client v4 uses unmodified (docs/realtime.md, "Socket.IO clients").

Connect: the handshake token is authenticated as the API does it (realtime.socketio.auth); the
socket joins `user:<id>`, `public` and, for moderators and admins, `admin` (realtime.socketio.hub).
The CONNECT reply carries a `pid` (realtime.socketio.pid). A client that sends back a valid pid
of the same user gets the SAME pid (so `socket.recovered === true`) and, after the reply, every
event of its rooms after its offset (the last event it received; without one, the pid's
watermark), from the outbox, in id order, none twice. Otherwise it gets a new pid and the
events after the current watermark. Two small overrides of AsyncServer do this: `_send_packet`
adds the pid to the CONNECT packet, `_handle_connect` runs the catch-up once the socket is
connected.
"""
from __future__ import annotations

import asyncio
import logging

import socketio
from django.conf import settings
from socketio import packet as sio_packet

from outbox.replay import replayable_after, watermark

from ..db import db_call
from ..origin import origin_allowed
from .auth import AUTH_REQUIRED, authenticate, handshake_token
from .hub import NAMESPACE, Hub
from .pid import offset_read, pid_issue, pid_read

log = logging.getLogger(__name__)
SERVER_ERROR = "Server error"


def _cors_allowed(origin, environ) -> bool:
    # The /ws/events/ Origin rule (realtime.origin), for websocket and long-polling alike.
    return origin_allowed(origin, environ.get("HTTP_HOST"))


def _plan(raw: str, auth) -> tuple:
    """(user, deadline, pid, after, recovered) for a handshake (sync: reads the database).

    `after`: the outbox id after which the socket is owed events. Raises ConnectionRefusedError."""
    user, deadline = authenticate(raw)
    auth = auth if isinstance(auth, dict) else {}
    session = pid_read(auth.get("pid"), user_id=user.pk)
    if session is not None:
        offset = offset_read(auth.get("offset"))
        after = session.watermark if offset is None else max(offset, session.watermark)
        if replayable_after(after=after, issued_at=session.issued_at):
            return user, deadline, session.pid, after, True
    now = watermark()
    return user, deadline, pid_issue(user_id=user.pk, watermark=now), now, False


class DgtSocketServer(socketio.AsyncServer):
    """AsyncServer whose CONNECT reply carries dgt's recovery pid and whose connected sockets
    catch up from the outbox (see the module doc)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hub = Hub(self)
        self._pids: dict[str, str] = {}  # sid -> pid for its CONNECT reply
        self._after: dict[str, tuple[str, int]] = {}  # eio_sid -> (sid, outbox id to catch up from)
        self._closing: set[asyncio.Task] = set()  # sessions closed for a malformed packet
        self.on("connect", self._on_connect)
        self.on("disconnect", self._on_disconnect)

    async def _on_connect(self, sid, environ, auth=None):
        raw = handshake_token(auth, environ)
        if raw is None:
            raise socketio.exceptions.ConnectionRefusedError(AUTH_REQUIRED)
        try:
            user, deadline, pid, after, _recovered = await db_call(_plan, raw, auth)
        except socketio.exceptions.ConnectionRefusedError:
            raise
        except Exception as exc:
            # Anything else escapes python-socketio's _handle_connect: the client would get no
            # reply and the pre-connected sid would stay in the manager. Refuse instead.
            log.exception("socket.io handshake failed")
            raise socketio.exceptions.ConnectionRefusedError(SERVER_ERROR) from exc
        try:
            state = await self.hub.attach(sid=sid, user=user, deadline=deadline)
        except Exception as exc:  # channel layer down: refuse now rather than serve a deaf socket
            log.exception("socket.io connect of user %s failed", user.pk)
            await self.hub.detach(sid)
            raise socketio.exceptions.ConnectionRefusedError(SERVER_ERROR) from exc
        self._pids[sid] = pid
        self._after[state.eio_sid] = (sid, after)
        return True

    async def _on_disconnect(self, sid, reason=None):
        self._pids.pop(sid, None)
        await self.hub.detach(sid)

    async def _send_packet(self, eio_sid, pkt):
        if pkt.packet_type == sio_packet.CONNECT and isinstance(pkt.data, dict) and "sid" in pkt.data:
            pid = self._pids.pop(pkt.data["sid"], None)
            if pid is not None:
                pkt.data["pid"] = pid
        await super()._send_packet(eio_sid, pkt)

    async def _handle_eio_message(self, eio_sid, data):
        # A packet python-socketio cannot decode (bad JSON, nesting past the recursion limit, an
        # integer past int's digit limit, a stray binary attachment) raised out of here: an
        # ERROR traceback per packet, from clients that need not even be authenticated, and the
        # session stayed open. It is the client's fault: one warning line and the session closes.
        try:
            await super()._handle_eio_message(eio_sid, data)
        except (ValueError, RecursionError) as exc:
            log.warning("socket.io: malformed packet from %s (%s); closing the session", eio_sid,
                        type(exc).__name__)
            self._binary_packet.pop(eio_sid, None)
            # Not awaited here: closing a polling session from inside its own POST held that
            # POST open until the client gave up.
            task = asyncio.get_running_loop().create_task(self.eio.disconnect(eio_sid))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _handle_connect(self, eio_sid, namespace, data):
        try:
            await super()._handle_connect(eio_sid, namespace, data)
        finally:
            pending = self._after.pop(eio_sid, None)
        if pending is None:
            return
        sid, after = pending
        if self.manager.is_connected(sid, namespace or NAMESPACE):
            await self.hub.catch_up(sid, after)
        else:  # the transport closed before the CONNECT reply: no disconnect handler will run
            self._pids.pop(sid, None)
            await self.hub.detach(sid)


def build_server() -> DgtSocketServer:
    """The process's Socket.IO server (settings: SOCKETIO_MAX_FRAME_BYTES, SOCKETIO_PING_*)."""
    return DgtSocketServer(
        async_mode="asgi",
        cors_allowed_origins=_cors_allowed,
        max_http_buffer_size=settings.SOCKETIO_MAX_FRAME_BYTES,
        ping_interval=settings.SOCKETIO_PING_INTERVAL_SECONDS,
        ping_timeout=settings.SOCKETIO_PING_TIMEOUT_SECONDS,
        logger=False,
        engineio_logger=False,
    )


def socketio_app(other_asgi_app):
    """ASGI app: `/socket.io/` to the Socket.IO server, everything else to `other_asgi_app`."""
    return socketio.ASGIApp(build_server(), other_asgi_app=other_asgi_app, socketio_path="socket.io")
