"""`/ws/events/`: the live event socket of the user and admin apps, a plain ASGI websocket
application (docs/realtime.md, "Websocket /ws/events/").

Authentication, in this order: the `Authorization: Bearer` header (non-browser clients), the
Django session (admins in Django admin), or a first frame `{"type": "auth", "token": ...}`
(browsers) within WS_AUTH_TIMEOUT_SECONDS. Close codes: 4001 unauthenticated or token expired
(at `exp`), 4003 blocked or role removed, 4009 frame too big, 4503 the token could not be checked
(database down). Once the socket is in its groups the server sends
`{"type": "ready", "userId", "groups"}`; every event published after that reaches it.

Events come from the loop's EventsHub (realtime.wsevents.hub: one channel-layer subscription per
process, frame text decoded once and written to every local socket of the group). A frame is
written at once when nothing is in flight for the socket; a send that suspends (the transport is
paused) is finished by a short-lived task and later frames wait in the socket's queue, in order,
so a client that does not read never holds up the hub; a queue over CHANNEL_CAPACITY frames drops
the newest events and replays them from the outbox once it drained (no gap, as the layer's own drops).

Resume: `?after=<id>` in the URL or `"after"` in the auth frame replays right after `ready`, before
any live frame; `{"type": "resume", "after": <id>}` later replays the rows of the socket's groups
with a larger id, in id order, at most RESUME_MAX (then `resume_truncated`), then `resumed`. Live
events that arrive during a replay are held and written after it; every id the socket was sent is
remembered (SentIds) and a live frame already sent by a replay is dropped.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from django.conf import settings
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.authentication import token_user_id
from accounts.tokens import token_deadline
from core.api.text import INVALID_TEXT, describe, unstorable_at
from outbox.services import GROUP_ADMIN, user_group
from outbox.transport import DROPS

from .. import dashboard
from ..admission import handshake_slot
from ..db import db_call
from ..fanout import SentIds, users_read
from ..handshakes import handshake_read
from ..replays import replay_read
from .hub import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, EventsHub, access_code, hub_for_loop
from .session import session_user

log = logging.getLogger(__name__)

__all__ = ["CLOSE_FORBIDDEN", "CLOSE_TOO_BIG", "CLOSE_UNAUTHENTICATED", "CLOSE_UNAVAILABLE", "events_app"]

# A frame over this socket's limit: RFC 6455's 1009 (message too big) moved into the application
# range, as daphne/autobahn let an application close only with 1000 or 3000-4999. The servers' own
# limit (WS_MAX_BYTES) answers 1009 (uvicorn) or drops the connection (daphne).
CLOSE_TOO_BIG = 4009
# The server could not check the token (database down): HTTP's 503 in the application range. Not
# 4001: a client must not throw away a good token because PostgreSQL restarted (docs/realtime.md).
CLOSE_UNAVAILABLE = 4503


def _compact(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"))


class EventsSocket:
    """One `/ws/events/` socket (see the module doc). ~1 KB while idle: no task of its own
    between frames, timers as loop handles."""

    __slots__ = ("send", "hub", "user", "user_id", "groups", "sent", "held", "outq", "writer",
                 "lost", "closed", "resume_after", "timers", "tasks", "main", "failure", "__weakref__")

    def __init__(self, send, hub: EventsHub, resume_after):
        self.send = send
        self.hub = hub
        self.user = None
        self.user_id: int | None = None
        self.groups: list[str] = []  # joined on the hub (counted), left by `forget`
        self.sent: SentIds | None = None  # created with the first event
        self.held: list | None = None  # live events held during a replay or before `ready`
        self.outq: list | None = None  # frames (str) and a close code (int) waiting for the writer
        self.writer: asyncio.Task | None = None
        self.lost: int | None = None  # smallest event id dropped from a full queue
        self.closed = False
        self.resume_after = resume_after
        self.timers: list[asyncio.TimerHandle] = []
        self.tasks: set[asyncio.Future] | None = None
        self.main: asyncio.Task | None = None  # the application's task (events_app)
        self.failure: BaseException | None = None  # what the server's send raised

    # -- writing ----------------------------------------------------------------------------
    def _push(self, item) -> None:
        if self.writer is None and not self.outq and isinstance(item, str):
            # Nothing in flight: write now, on the caller's turn of the loop. uvicorn's send does
            # not suspend unless its transport is paused; if it does, a task finishes it.
            coro = self.send({"type": "websocket.send", "text": item})
            try:
                yielded = coro.send(None)
            except StopIteration:
                return
            except Exception as exc:
                self._failed(exc)
                return
            self.writer = asyncio.get_running_loop().create_task(self._finish(coro, yielded))
            return
        if self.outq is None:
            self.outq = [item]
        else:
            self.outq.append(item)
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._drain())

    def write(self, text: str) -> None:
        """Queue a frame (in order with every other frame of this socket)."""
        if not self.closed:
            self._push(text)

    def write_json(self, frame: dict) -> None:
        self.write(_compact(frame))

    async def _finish(self, coro, yielded) -> None:
        """Run a send that suspended in `_push` to its end (the future it waits on first), then
        whatever was queued meanwhile."""
        try:
            while True:
                try:
                    if yielded is None:
                        await asyncio.sleep(0)
                    else:
                        await yielded
                except BaseException as exc:  # cancelled (the socket ends) or the wait failed
                    try:
                        yielded = coro.throw(exc)
                    except StopIteration:
                        break
                    continue
                try:
                    yielded = coro.send(None)
                except StopIteration:
                    break
        except asyncio.CancelledError:
            coro.close()
            self.writer = None
            raise
        except Exception as exc:
            self.writer = None
            self._failed(exc)
            return
        await self._drain()

    def _failed(self, exc: BaseException) -> None:
        """The server's send raised (the client has gone, e.g. uvicorn's ClientDisconnected): the
        application ends with that error, as if it had written the frame itself, and leaves its
        groups (events_app)."""
        self.outq = None
        self.closed = True
        self.failure = exc
        if self.main is not None and not self.main.done():
            self.main.cancel()

    async def _drain(self) -> None:
        try:
            while not self.closed or self.outq:
                if self.outq:
                    batch, self.outq = self.outq, None
                    for item in batch:
                        if isinstance(item, int):
                            await self.send({"type": "websocket.close", "code": item})
                            self.outq = None
                            return
                        await self.send({"type": "websocket.send", "text": item})
                elif self.lost is not None:
                    after, self.lost = self.lost - 1, None
                    await self.resume(max(0, after))
                else:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the client has gone
            self._failed(exc)
        finally:
            self.writer = None

    def event(self, row_id: int, text: str) -> None:
        """A committed outbox row for one of this socket's groups (from the hub): write its frame
        unless this socket already had it; held while a replay runs or before `ready`."""
        if self.closed:
            return
        if self.held is not None:
            self.held.append((row_id, text))
            return
        sent = self.sent
        if sent is None:
            sent = self.sent = SentIds()
        elif row_id in sent:
            return
        outq = self.outq
        if outq is not None and len(outq) >= settings.CHANNEL_CAPACITY:
            # The client does not read: keep the queue bounded, replay from the outbox once it
            # drained (outbox.transport's rule for a full layer buffer; the drop is counted there).
            DROPS.add("ws.events socket queue", row_id)
            if self.lost is None or row_id < self.lost:
                self.lost = row_id
            return
        if self.lost is not None:  # a later row waits for the replay of the lost ones
            if row_id > self.lost:
                return
        sent.add(row_id)
        self._push(text)

    def _release(self) -> None:
        """Write the live events held meanwhile that were not already written; go live."""
        held, self.held = self.held, None
        for row_id, text in held or ():
            self.event(row_id, text)

    async def close(self, code: int) -> None:
        """Close with `code` after the frames already queued; leave the hub at once."""
        if self.closed:
            return
        self.closed = True
        self._push(code)
        await self.forget()

    # -- timers -----------------------------------------------------------------------------
    def later(self, delay: float, action) -> None:
        """Run the coroutine function `action()` after `delay` seconds unless the socket closes
        first: a timer handle, not a sleeping task per socket."""
        loop = asyncio.get_running_loop()

        def fire():
            if self.closed:
                return
            task = asyncio.ensure_future(action())
            if self.tasks is None:
                self.tasks = set()
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        self.timers = [t for t in self.timers if not t.cancelled() and t.when() > loop.time()]
        self.timers.append(loop.call_later(delay, fire))

    async def _close_if_anonymous(self) -> None:
        if self.user is None:
            await self.close(CLOSE_UNAUTHENTICATED)

    async def _token_expired(self) -> None:
        await self.close(CLOSE_UNAUTHENTICATED)

    # -- authentication ---------------------------------------------------------------------
    async def open(self, scope) -> None:
        """After accept: authenticate by header or session, or wait for the auth frame."""
        header = next((v.decode("latin1") for k, v in scope.get("headers", []) if k == b"authorization"), None)
        if header:
            scheme, _, raw = header.partition(" ")
            if scheme.lower() != "bearer" or not raw:
                return await self.close(CLOSE_UNAUTHENTICATED)
            return await self._auth_with_token(raw.strip())
        user = await session_user(scope)
        if user is not None:
            return await self._start(user, exp=None)
        self.later(settings.WS_AUTH_TIMEOUT_SECONDS, self._close_if_anonymous)

    async def _auth_with_token(self, raw: str) -> None:
        """The token's signature and `exp` on the loop, its user in the moment's batched read
        (realtime.handshakes); 4001 for a bad token or no active user, 4503 when the database
        cannot answer."""
        try:
            token, user_id = token_user_id(raw)
        except InvalidToken:
            return await self.close(CLOSE_UNAUTHENTICATED)
        hub = self.hub
        self.user_id = user_id
        try:
            # The user's group first: a block (outbox.control's access.recheck, sent to it) that
            # commits while the user is being read is handled once the socket is ready.
            await hub.join(user_group(user_id))
        except Exception:
            log.exception("websocket authentication could not be checked")
            return await self.close(CLOSE_UNAVAILABLE)
        self.groups.append(user_group(user_id))
        hub.handshake_started(user_id)
        try:
            batch = await handshake_read(user_id, watermark=False)
        except Exception:
            hub.handshake_done(user_id)
            log.exception("websocket authentication could not be checked")
            return await self.close(CLOSE_UNAVAILABLE)
        except BaseException:
            hub.handshake_done(user_id)
            raise
        try:
            user = batch.users.get(user_id)
            if user is None:
                return await self.close(CLOSE_UNAUTHENTICATED)
            await self._start(user, exp=token_deadline(token))  # exp + JWT leeway, as the API applies it
        finally:
            if hub.handshake_done(user_id) and self.user is not None and not self.closed:
                await self.recheck()  # blocked or demoted while being read: read again

    async def _start(self, user, exp) -> None:
        if not user.is_active:
            return await self.close(CLOSE_UNAUTHENTICATED)
        if user.is_blocked():
            return await self.close(CLOSE_FORBIDDEN)
        self.user, self.user_id = user, user.pk
        for group in user.groups_for_events:
            if group not in self.groups:
                await self.hub.join(group)
                self.groups.append(group)
        if self.closed:  # closed while joining (the client left): forget() left what was joined
            return
        self.held = []  # nothing live before `ready`
        self.hub.attach(self)
        if exp:
            self.later(max(0.0, float(exp) - time.time()), self._token_expired)
        self.write_json({"type": "ready", "userId": user.pk, "groups": list(self.groups)})
        if GROUP_ADMIN in self.groups:
            dashboard.hub.join(self)
        if self.resume_after is not None:  # resume at connect: before any live frame (module doc)
            after = self.resume_after
            if isinstance(after, str):  # ASCII digits of a bigint ("²" is isdigit() but not int())
                after = int(after) if after.isascii() and after.isdigit() and len(after) < 20 else -1
            await self.resume(after)
        self._release()

    # -- access control ---------------------------------------------------------------------
    async def recheck(self) -> None:
        """Re-read this socket's user and close it when it may no longer stay."""
        users = await db_call(users_read, [self.user_id])
        await self.access_verdict(users.get(self.user_id))

    async def access_verdict(self, user) -> None:
        """The user as just read: close 4001/4003 when the socket may not stay (hub.access_code)."""
        if self.user is None or self.closed:
            return
        code = access_code(user, self.groups)
        if code is not None:
            return await self.close(code)
        self.user = user

    async def admin_stats(self, message: dict) -> None:
        """A dashboard stats frame from this process's StatsHub (realtime.dashboard)."""
        self.write(message["text"])

    # -- frames from the client -------------------------------------------------------------
    async def receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        """One frame from the client (see docs/realtime.md for the frames and their answers)."""
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > (settings.WS_MAX_BYTES if self.user is not None else settings.WS_PREAUTH_MAX_BYTES):
            # Before auth a client may send only its auth frame; the server itself already refused
            # anything over WS_MAX_BYTES before buffering it (docs/realtime.md, frame limits).
            return await self.close(CLOSE_TOO_BIG)
        try:
            msg = json.loads(text_data or "")
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder allows
            return self._error("bad_frame", "Frames are JSON objects.")
        if not isinstance(msg, dict):
            return self._error("bad_frame", "Frames are JSON objects.")
        bad = unstorable_at(msg)
        if bad is not None:  # core.api.text: refused before any field is read, logged or echoed
            return self._error(INVALID_TEXT, describe(bad))
        kind = msg.get("type")
        if kind == "auth":
            if self.user is not None:
                return self._error("already_authenticated", "This socket is already authenticated.")
            token = msg.get("token")
            if not isinstance(token, str) or not token:
                return await self.close(CLOSE_UNAUTHENTICATED)
            if "after" in msg:
                self.resume_after = msg["after"]
            return await self._auth_with_token(token)
        if self.user is None:
            return await self.close(CLOSE_UNAUTHENTICATED)
        if kind == "ping":
            return self.write_json({"type": "pong"})
        if kind == "resume":
            return await self.resume(msg.get("after"))
        return self._error("unknown_type", f"Unknown frame type {kind!r}.")

    async def resume(self, after) -> None:
        """Replay the rows of the socket's groups after `after` (see the module doc); live events
        meanwhile are held and written after the `resumed` frame."""
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            return self._error("bad_frame", "resume.after must be a non-negative integer (the last event id).")
        outer = self.held is not None
        if not outer:
            self.held = []
        try:
            limit = settings.RESUME_MAX
            rows = await replay_read(self.groups, after, limit + 1)
            truncated = len(rows) > limit
            count = 0
            last_id = after
            if self.sent is None:
                self.sent = SentIds()
            for row_id, _group, text in rows[:limit]:
                last_id = row_id
                if row_id in self.sent:
                    continue
                self.sent.add(row_id)
                self.write(text)
                count += 1
            if truncated:
                self.write_json({"type": "resume_truncated", "lastId": last_id})
            self.write_json({"type": "resumed", "lastId": last_id, "count": count})
        finally:
            if not outer:
                self._release()

    def _error(self, code: str, message: str) -> None:
        self.write_json({"type": "error", "code": code, "message": message})

    # -- the end ----------------------------------------------------------------------------
    async def forget(self) -> None:
        """Leave the hub, its groups, the dashboard and every timer (idempotent)."""
        self.closed = True
        dashboard.hub.leave(self)
        for timer in self.timers:
            timer.cancel()
        self.timers = []
        for task in list(self.tasks or ()):
            if task is not asyncio.current_task():
                task.cancel()
        self.hub.detach(self)
        joined, self.groups = self.groups, []
        for group in joined:
            await self.hub.leave(group)


async def events_app(scope, receive, send) -> None:
    """The ASGI application of `/ws/events/` (websocket scopes only; see the module doc)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    sock = EventsSocket(send, hub_for_loop(), query.get("after", [None])[0])
    sock.main = asyncio.current_task()
    try:
        async with handshake_slot():  # a storm's handshakes a few hundred at a time (realtime.admission)
            await send({"type": "websocket.accept"})
            await sock.open(scope)
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                break
            if kind == "websocket.receive" and not sock.closed:
                await sock.receive(message.get("text"), message.get("bytes"))
    except asyncio.CancelledError:
        if sock.failure is None:
            raise
        asyncio.current_task().uncancel()
        raise sock.failure from None
    finally:
        # However the socket ends (also a client gone before `ready`: the server then raises from
        # send and no websocket.disconnect comes), it leaves its groups and its writer stops.
        sock.closed = True
        writer = sock.writer
        if writer is not None and writer is not asyncio.current_task():
            if sock.outq and isinstance(sock.outq[-1], int):
                # A close still queued: let it go out (the server answers it; the client is there).
                try:
                    await asyncio.wait_for(asyncio.shield(writer), 1)
                except Exception:
                    pass
            writer.cancel()
        await sock.forget()
