"""`/ws/events/`: the live event socket of the user and admin apps (docs/realtime.md).

Authentication, in this order: the `Authorization: Bearer` header (non-browser clients), the
Django session (admins in Django admin), or a first frame `{"type": "auth", "token": ...}`
(browsers) within WS_AUTH_TIMEOUT_SECONDS. Close codes: 4001 unauthenticated or token expired
(at `exp`), 4003 blocked or role removed. Once the socket is in its groups the server sends
`{"type": "ready", "userId", "groups"}`; every event published after that reaches it.

Resume at connect (in order): `?after=<id>` in the URL or `"after": <id>` in the auth frame makes
the server replay right after `ready`, before any live frame (the same handler joins, answers
ready and replays, so live frames wait in the socket's layer buffer): a reconnecting client gets
its missed events once and in id order. A `resume` frame sent after `ready` replays the same rows,
but live frames written between `ready` and that frame may precede older replayed ones.

Resume: `{"type": "resume", "after": <id>}` replays the rows of the socket's groups with a larger
id, in id order, at most RESUME_MAX (then `{"type": "resume_truncated", "lastId"}`: resume again
after lastId), then `{"type": "resumed", "lastId", "count"}`. No gap, no duplicate: Channels
dispatches one message at a time, so live frames that arrive during the replay wait in the
socket's layer buffer and run after it; every id this socket was sent is remembered (bounded)
and a live frame already sent by the replay is dropped.

Frame limits: a frame larger than WS_PREAUTH_MAX_BYTES (4 KB) before authentication, or larger
than WS_MAX_BYTES (64 KB) after it, closes the socket with 4009 (frame too big); the servers
refuse frames over WS_MAX_BYTES before buffering them, uvicorn with 1009, daphne by dropping the
connection (Procfile, Makefile; docs/realtime.md).

Database calls (auth, resume, recheck) run through `realtime.db.db_call`: with the ws process's
psycopg pool, in a small executor instead of asgiref's one thread-sensitive thread.

Liveness: the server (uvicorn --ws-ping-interval/--ws-ping-timeout, daphne's defaults) pings at protocol level and drops
dead peers; clients may also send `{"type": "ping"}` (answered `{"type": "pong"}`). Every
WS_RECHECK_SECONDS the socket re-reads its user (safety net for a lost outbox.control message).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.authentication import token_user_id
from accounts.tokens import token_deadline
from core.api.text import INVALID_TEXT, describe, unstorable_at
from outbox.services import GROUP_ADMIN, user_group
from outbox.transport import DROPS

from . import dashboard
from .db import db_call
from .handshakes import handshake_read
from .replays import replay_read

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4001
CLOSE_FORBIDDEN = 4003
# A frame over this socket's limit: RFC 6455's 1009 (message too big) moved into the application
# range, as daphne/autobahn let an application close only with 1000 or 3000-4999. The servers' own
# limit (WS_MAX_BYTES) answers 1009 (uvicorn) or drops the connection (daphne).
CLOSE_TOO_BIG = 4009
# The server could not check the token (database down): HTTP's 503 in the application range. Not
# 4001: a client must not throw away a good token because PostgreSQL restarted (docs/realtime.md).
CLOSE_UNAVAILABLE = 4503
SENT_IDS_REMEMBERED = 20000


def _reload_user(user_id: int):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).first()


class SentIds:
    """The ids written to one socket, the newest SENT_IDS_REMEMBERED of them."""

    def __init__(self, size: int = SENT_IDS_REMEMBERED):
        self._order: deque[int] = deque()
        self._set: set[int] = set()
        self._size = size

    def __contains__(self, row_id: int) -> bool:
        return row_id in self._set

    def add(self, row_id: int) -> None:
        self._set.add(row_id)
        self._order.append(row_id)
        if len(self._order) > self._size:
            self._set.discard(self._order.popleft())


class EventsConsumer(AsyncWebsocketConsumer):
    user = None
    joined: list[str]

    async def connect(self):
        self.joined = []
        self.sent = SentIds()
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Future] = set()
        self._closed = False
        self._resume_after = parse_qs(self.scope.get("query_string", b"").decode("latin1")).get("after", [None])[0]
        await self.accept()
        header = next((v.decode("latin1") for k, v in self.scope.get("headers", []) if k == b"authorization"), None)
        if header:
            scheme, _, raw = header.partition(" ")
            if scheme.lower() != "bearer" or not raw:
                return await self.close(code=CLOSE_UNAUTHENTICATED)
            return await self._auth_with_token(raw.strip())
        session_user = self.scope.get("user")
        if session_user is not None and session_user.is_authenticated:
            return await self._start(session_user, exp=None)
        self._later(settings.WS_AUTH_TIMEOUT_SECONDS, self._close_if_anonymous)

    def _later(self, delay: float, action) -> None:
        """Run the coroutine function `action()` after `delay` seconds unless the socket closes first.

        A timer handle (~0.2 KB), not a sleeping task per socket: an idle socket holds no task of its own.
        """
        def fire():
            if self._closed:
                return
            task = asyncio.ensure_future(action())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._timers = [t for t in self._timers if not t.cancelled() and t.when() > asyncio.get_running_loop().time()]
        self._timers.append(asyncio.get_running_loop().call_later(delay, fire))

    async def _close_if_anonymous(self):
        if self.user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def close(self, code=None, reason=None):
        self._closed = True
        await super().close(code=code, reason=reason)

    async def _auth_with_token(self, raw: str):
        """The token's signature and `exp` on the loop, its user in the moment's batched read
        (realtime.handshakes); 4001 for a bad token or no active user, 4503 when the database
        cannot answer."""
        try:
            token, user_id = token_user_id(raw)
        except InvalidToken:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        try:
            # The user's group first: a block (outbox.control's access.recheck, sent to it) that
            # commits while the user is being read is handled once the socket is ready.
            await self.channel_layer.group_add(user_group(user_id), self.channel_name)
            self.joined.append(user_group(user_id))
            batch = await handshake_read(user_id, watermark=False)
        except Exception:
            log.exception("websocket authentication could not be checked")
            return await self.close(code=CLOSE_UNAVAILABLE)
        user = batch.users.get(user_id)
        if user is None:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        await self._start(user, exp=token_deadline(token))  # exp + JWT leeway, as the API applies it

    async def _start(self, user, exp):
        if not user.is_active:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        if user.is_blocked():
            return await self.close(code=CLOSE_FORBIDDEN)
        self.user = user
        for group in user.groups_for_events:
            if group not in self.joined:
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined.append(group)
        if exp:
            self._later(max(0.0, float(exp) - time.time()), self._token_expired)
        if settings.WS_RECHECK_SECONDS > 0:
            self._later(settings.WS_RECHECK_SECONDS, self._recheck)
        await self._send_json({"type": "ready", "userId": user.pk, "groups": list(self.joined)})
        if GROUP_ADMIN in self.joined:
            dashboard.hub.join(self)
        if self._resume_after is not None:  # resume at connect: before any live frame (module doc)
            after = self._resume_after
            if isinstance(after, str):  # ASCII digits of a bigint ("²" is isdigit() but not int())
                after = int(after) if after.isascii() and after.isdigit() and len(after) < 20 else -1
            await self._resume(after)

    async def _token_expired(self):
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _recheck(self):
        """Every WS_RECHECK_SECONDS: re-read the user (safety net for a lost control message)."""
        try:
            await self.access_recheck({})
        except Exception:  # a database hiccup must not kill the socket; next tick retries
            log.exception("socket recheck failed")
        if not self._closed:
            self._later(settings.WS_RECHECK_SECONDS, self._recheck)

    async def _send_json(self, frame: dict):
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def receive(self, text_data=None, bytes_data=None):
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > (settings.WS_MAX_BYTES if self.user is not None else settings.WS_PREAUTH_MAX_BYTES):
            # Before auth a client may send only its auth frame; the server itself already refused
            # anything over WS_MAX_BYTES before buffering it (docs/realtime.md, frame limits).
            return await self.close(code=CLOSE_TOO_BIG)
        try:
            msg = json.loads(text_data or "")
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder allows
            return await self._error("bad_frame", "Frames are JSON objects.")
        if not isinstance(msg, dict):
            return await self._error("bad_frame", "Frames are JSON objects.")
        bad = unstorable_at(msg)
        if bad is not None:  # core.api.text: refused before any field is read, logged or echoed
            return await self._error(INVALID_TEXT, describe(bad))
        kind = msg.get("type")
        if kind == "auth":
            if self.user is not None:
                return await self._error("already_authenticated", "This socket is already authenticated.")
            token = msg.get("token")
            if not isinstance(token, str) or not token:
                return await self.close(code=CLOSE_UNAUTHENTICATED)
            if "after" in msg:
                self._resume_after = msg["after"]
            return await self._auth_with_token(token)
        if self.user is None:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        if kind == "ping":
            return await self._send_json({"type": "pong"})
        if kind == "resume":
            return await self._resume(msg.get("after"))
        return await self._error("unknown_type", f"Unknown frame type {kind!r}.")

    async def _resume(self, after):
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            return await self._error("bad_frame", "resume.after must be a non-negative integer (the last event id).")
        limit = settings.RESUME_MAX
        rows = await replay_read(self.joined, after, limit + 1)
        truncated = len(rows) > limit
        rows = rows[:limit]
        count = 0
        last_id = after
        for row_id, _group, text in rows:
            last_id = row_id
            if row_id in self.sent:
                continue
            self.sent.add(row_id)
            await self.send(text_data=text)
            count += 1
        if truncated:
            await self._send_json({"type": "resume_truncated", "lastId": last_id})
        await self._send_json({"type": "resumed", "lastId": last_id, "count": count})

    async def _error(self, code: str, message: str):
        await self._send_json({"type": "error", "code": code, "message": message})

    async def dispatch(self, message):
        # No per-message close_old_connections() (channels' default): that is a hop through the one
        # shared sync thread for every frame, connect and receive, which dominated the websocket
        # process's profile (docs/benchmarks.md). Every handler here that touches the database goes
        # through db_call, which closes (returns to the pool) its connection itself.
        if message["type"] == "outbox.event":  # the hot path
            return await self.outbox_event(message)
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        return await handler(message)

    async def outbox_event(self, message):
        """A committed outbox row for one of this socket's groups: write its frame unless this
        socket already had it (from a resume replay, or a second relay of the row)."""
        row_id = message["id"]
        dropped = DROPS.take(self.channel_name)
        if dropped is not None:
            # The layer dropped frames for this socket (its buffer was full): replay from the
            # outbox, in id order, from just before the first lost id (this row included); rows
            # already written are skipped, later live frames too. The client sees no gap.
            return await self._resume(max(0, min(dropped, row_id) - 1))
        if row_id in self.sent:
            return
        self.sent.add(row_id)
        await self.send(text_data=message["text"])

    async def admin_stats(self, message):
        """A dashboard stats frame from this process's StatsHub (realtime.dashboard)."""
        await self.send(text_data=message["text"])

    async def access_recheck(self, message):
        """The user's block or role changed: re-read the user and close when it may not stay."""
        if self.user is None or self._closed:
            return
        user = await db_call(_reload_user, self.user.pk)
        if user is None or not user.is_active:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        if user.is_blocked() or (GROUP_ADMIN in self.joined and not user.is_moderator):
            return await self.close(code=CLOSE_FORBIDDEN)
        self.user = user

    async def __call__(self, scope, receive, send):
        # However the socket ends, it leaves its groups: a client that closes before `ready` makes
        # the consumer's send raise (uvicorn's ClientDisconnected), the application returns without
        # a websocket.disconnect message, and Channels never calls disconnect(); the channel then
        # stayed in its groups and its timers re-read the user until the token expired.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._forget()

    async def disconnect(self, code):
        await self._forget()

    async def _forget(self) -> None:
        """Leave the groups, the dashboard and every timer (idempotent)."""
        self._closed = True
        dashboard.hub.leave(self)
        for timer in getattr(self, "_timers", ()):
            timer.cancel()
        for task in list(getattr(self, "_tasks", ())):
            task.cancel()
        joined, self.joined = getattr(self, "joined", []), []
        for group in joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # the layer is down: its subscriptions end with the connection
                log.warning("websocket: group_discard %s failed", group, exc_info=True)
