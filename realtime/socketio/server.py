"""The Socket.IO server: python-socketio's AsyncServer with dgt's auth, rooms and a recovery
that socket.io-client v4 uses unmodified (docs/realtime.md, "Socket.IO clients").

Connect: the handshake token is authenticated as the API does it (realtime.socketio.auth): its
signature and `exp` on the event loop, the user row (role, block) in a read batched with the
other handshakes of the moment (realtime.handshakes); the socket joins `user:<id>`, `public` and,
for moderators and admins, `admin` (realtime.socketio.hub).
The CONNECT reply carries a `pid` (realtime.socketio.pid). A client that sends back a valid pid
of the same user gets the SAME pid (so `socket.recovered === true`) and, after the reply, every
event of its rooms after its offset (the last event it received; without one, the pid's
watermark), from the outbox, in id order, none twice. Otherwise it gets a new pid and the
events after the current watermark: live, with no read at all when its groups were subscribed
before the watermark was read (the usual case: the user's group is subscribed first). Two small overrides of AsyncServer do this: `_send_packet`
adds the pid to the CONNECT packet, `_handle_connect` runs the catch-up once the socket is
connected.
"""
from __future__ import annotations

import asyncio
import logging

import socketio
from django.conf import settings
from django.contrib.auth import get_user_model
from socketio import packet as sio_packet

from accounts.tokens import token_deadline
from outbox.services import user_group

from ..db import db_call
from ..fanout import hubs_started
from ..wsevents.hub import hub_for_loop as events_hub
from ..handshakes import Batch, handshake_read
from ..origin import origin_allowed
from .auth import AUTH_REQUIRED, block_check_writes, handshake_token, token_read, user_admitted
from .hub import NAMESPACE, Hub
from .pid import Session, offset_read, pid_issue, pid_read
from .transport import EngineServer

log = logging.getLogger(__name__)
SERVER_ERROR = "Server error"


def _cors_allowed(origin, environ) -> bool:
    # The /ws/events/ Origin rule (realtime.origin), for websocket and long-polling alike.
    return origin_allowed(origin, environ.get("HTTP_HOST"))


def _resume_point(auth, user_id: int) -> tuple[Session | None, int | None]:
    """(the client's valid pid session, the outbox id it asks to resume after) from the CONNECT
    auth; (None, None) for a new session. No database: the batch checks the id is still kept."""
    auth = auth if isinstance(auth, dict) else {}
    session = pid_read(auth.get("pid"), user_id=user_id)
    if session is None:
        return None, None
    offset = offset_read(auth.get("offset"))
    return session, session.watermark if offset is None else max(offset, session.watermark)


def _admitted_now(user_id: int):
    """The user read again (sync), for a handshake during which they were rechecked (blocked or
    their role changed). Raises ConnectionRefusedError(INVALID_TOKEN) when they may not connect."""
    return user_admitted(get_user_model().objects.filter(pk=user_id, is_active=True).first())


def _session(session: Session | None, asked: int | None, batch: Batch, user_id: int) -> tuple[str, int, bool]:
    """(pid, outbox id the socket is owed events after, recovered): the client's own session
    when its resume point is still kept in the outbox, else a new one from the batch's watermark."""
    if session is not None and batch.replayable_after(asked, session.issued_at):
        return session.pid, asked, True
    return pid_issue(user_id=user_id, watermark=batch.watermark), batch.watermark, False


class DgtSocketServer(socketio.AsyncServer):
    """AsyncServer whose CONNECT reply carries dgt's recovery pid and whose connected sockets
    catch up from the outbox (see the module doc)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hub = Hub(self)
        self._pids: dict[str, str] = {}  # sid -> pid for its CONNECT reply
        # eio_sid -> (sid, outbox id to catch up from, whether rows must be read: Hub.catch_up)
        self._after: dict[str, tuple[str, int, bool]] = {}
        self._closing: set[asyncio.Task] = set()  # sessions closed for a malformed packet
        self.on("connect", self._on_connect)
        self.on("disconnect", self._on_disconnect)

    def _engineio_server_class(self):
        return EngineServer  # direct websocket writes (realtime.socketio.transport)

    async def _on_connect(self, sid, environ, auth=None):
        raw = handshake_token(auth, environ)
        if raw is None:
            raise socketio.exceptions.ConnectionRefusedError(AUTH_REQUIRED)
        token, user_id = token_read(raw)
        session, asked = _resume_point(auth, user_id)
        own = user_group(user_id)
        # The user's own group is subscribed before the batch reads the watermark, so a new
        # session is owed nothing it will not receive live (Hub.catch_up).
        await self._or_server_error(self.hub.hold(own), user_id)
        self.hub.handshake_started(user_id)
        reading = True
        try:
            batch = await self._or_server_error(handshake_read(user_id, after=asked), user_id)
            user = batch.users.get(user_id)
            if block_check_writes(user):
                user = await self._or_server_error(db_call(user_admitted, user), user_id)
            else:
                user = user_admitted(user)
            reading = False
            if self.hub.handshake_done(user_id):  # blocked or demoted while being read: read again
                user = await self._or_server_error(db_call(_admitted_now, user_id), user_id)
            try:
                state = await self.hub.attach(sid=sid, user=user, deadline=token_deadline(token))
            except Exception as exc:  # channel layer down: refuse now rather than serve a deaf socket
                log.exception("socket.io connect of user %s failed", user_id)
                raise socketio.exceptions.ConnectionRefusedError(SERVER_ERROR) from exc
        finally:
            if reading:
                self.hub.handshake_done(user_id)
            await self.hub.release(own)
        pid, after, recovered = _session(session, asked, batch, user_id)
        replay = recovered or not self.hub.subscribed_before(state.groups, batch.started_ns)
        self._pids[sid] = pid
        self._after[state.eio_sid] = (sid, after, replay)
        return True

    @staticmethod
    async def _or_server_error(awaitable, user_id: int):
        """Await a handshake step; anything but a refusal (the database or the channel layer is
        down) becomes "Server error": it would escape python-socketio's _handle_connect, the
        client would get no reply and the pre-connected sid would stay in the manager."""
        try:
            return await awaitable
        except socketio.exceptions.ConnectionRefusedError:
            raise
        except Exception as exc:
            log.exception("socket.io handshake of user %s failed", user_id)
            raise socketio.exceptions.ConnectionRefusedError(SERVER_ERROR) from exc

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
        sid, after, replay = pending
        if self.manager.is_connected(sid, namespace or NAMESPACE):
            await self.hub.catch_up(sid, after, replay=replay)
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
    """ASGI app: `/socket.io/` to the Socket.IO server, everything else to `other_asgi_app`. Its
    lifespan startup (uvicorn's `--lifespan on`; daphne sends none) starts this process's two hubs,
    the Socket.IO one and `/ws/events/`'s (realtime.fanout.hubs_started)."""
    server = build_server()

    async def started() -> None:
        await hubs_started(server.hub, events_hub())

    return socketio.ASGIApp(server, other_asgi_app=other_asgi_app, socketio_path="socket.io", on_startup=started)
