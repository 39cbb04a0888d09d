"""What both websocket endpoints of a ws process share: one channel-layer channel per endpoint and
process, its groups counted per local socket, one reader (docs/realtime.md, "One subscription
per process").

`LayerHub` owns the process's channel (`layer.new_channel()`): it joins a group (`user.<id>`,
`admin`, `public`) when the first local socket needs it and leaves it after the last
(`join`/`leave`, counted; a socket arriving while the group_add is in flight waits for the same
one). The unsubscribe of a group nobody holds any more waits WS_GROUP_DISCARD_DELAY_SECONDS and is done by
one task for every such group: a socket's end awaits no Redis round trip (a stopping process with
10,000 sockets ran 10,000 of them before it could exit), a client that reconnects within the
delay finds its group still subscribed, and what is still pending when the process exits ends
with its layer connection. One reader task receives each layer message once and hands it to the subclass:
- `outbox.event` -> `deliver(row_id, group, text)`: the endpoint writes the frame to every local
  socket of the group, encoded once. When the layer dropped frames for the hub's channel (its
  buffer was full: outbox.transport's DROPS), the rows are first replayed from the outbox in id
  order, so no socket sees a gap. Rows are delivered once per process (`sent`): a second relay
  of a row is dropped here.
- `access.recheck` (outbox.control, after a block or a role change) -> `recheck(user_ids)`; the
  same runs for every local user every WS_RECHECK_SECONDS (safety net for a lost message).
  A recheck of a user whose handshake is reading them is remembered (`handshake_started` /
  `handshake_done`): their block may have committed after the read.

Subclasses: realtime.socketio.hub.Hub (Socket.IO rooms) and realtime.wsevents.hub.EventsHub
(`/ws/events/`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model

from outbox.transport import DROPS

from .db import db_call
from .replays import replay_read

log = logging.getLogger(__name__)
SENT_IDS_REMEMBERED = 20000


class SentIds:
    """The ids written to one socket (or one hub), the newest SENT_IDS_REMEMBERED of them."""

    __slots__ = ("_order", "_set", "_size")

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


# What a recheck decides on (accounts.models.User: is_active, is_blocked(), is_moderator).
RECHECK_FIELDS = ("id", "is_active", "role", "blocked_at", "block_until")
# The periodic recheck reads the local users this many at a time: each read is a short burst of
# Python in a thread, which holds the event loop back while it runs (docs/realtime.md).
RECHECK_CHUNK = 500


def users_read(user_ids: list[int]) -> dict[int, object]:
    """{id: user row} of these users, inactive ones included, with only the fields a recheck
    decides on (sync; a recheck's read)."""
    return {u.pk: u for u in get_user_model().objects.filter(pk__in=user_ids).only(*RECHECK_FIELDS)}


async def hubs_started(*hubs: "LayerHub") -> None:
    """Start each hub now (its layer connection, channel and reader): the ws process's ASGI
    lifespan startup (the Procfile's `--lifespan on`), before uvicorn listens. Started lazily by
    the first socket instead, the hub's Redis connection was opened while a reconnect storm's
    thousands of handshakes held the loop, and timed out (REDIS_CONNECT_TIMEOUT_SECONDS): the
    sockets waiting for it were closed 4503 (docs/operations.md). A hub that cannot start now
    (Redis down) is logged and left to start with its first socket; the process still serves."""
    for hub in hubs:
        try:
            await hub.start()
        except Exception:
            log.warning("%s: could not start at startup; it starts with its first socket", hub.name, exc_info=True)


class LayerHub:
    """See the module doc. One per endpoint and event loop; subclasses implement `deliver` and
    `verdict`, and keep `by_user` (user id -> their local sockets) as sockets come and go. The
    channel layer is one of outbox.transport's, which add `group_add_many` to channels' API."""

    name = "hub"

    def __init__(self):
        self.layer = None
        self.channel: str | None = None
        self.refs: dict[str, int] = {}
        self.subscribed_ns: dict[str, int] = {}  # group -> monotonic_ns when its group_add returned
        self._subscribing: dict[str, asyncio.Future] = {}  # group -> its subscription in flight
        self._to_subscribe: list[str] = []  # groups queued for the subscriber's next SUBSCRIBE
        self._subscriber: asyncio.Task | None = None
        self._unheld: set[str] = set()  # groups nobody holds, to unsubscribe (see the module doc)
        self._discarding: dict[str, asyncio.Future] = {}  # group -> its group_discard in flight
        self._discarder: asyncio.Task | None = None
        self.by_user: dict[int, set] = {}  # user id -> their local sockets (the subclass's handles)
        self.handshaking: dict[int, int] = {}  # user id -> handshakes in flight
        self.recheck_due: set[int] = set()  # users rechecked while a handshake of theirs was in flight
        self.sent = SentIds()
        self._start_lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task] = []

    # -- to implement -----------------------------------------------------------------------
    async def deliver(self, row_id: int, group: str | None, text: str) -> None:
        """Write the outbox row's frame `text` to the local sockets of `group`."""
        raise NotImplementedError

    async def verdict(self, user_id: int, user) -> None:
        """End or narrow the local sockets of `user_id` that may no longer stay, `user` being
        their row as just read (None: deleted)."""
        raise NotImplementedError

    # -- access control ---------------------------------------------------------------------
    def local_users(self) -> list[int]:
        """The ids of the users with a socket on this hub."""
        return list(self.by_user)

    async def recheck(self, user_ids: list[int]) -> None:
        """Re-read these users, those with a local socket, in one query and hand each row to
        `verdict`; a user whose handshake is reading them is marked for it (`handshake_done`)."""
        self.note_recheck(user_ids)
        user_ids = [u for u in user_ids if u in self.by_user]
        if not user_ids:
            return
        users = await db_call(users_read, user_ids)
        for user_id in user_ids:
            await self.verdict(user_id, users.get(user_id))

    # -- the channel and its groups ---------------------------------------------------------
    async def start(self) -> None:
        """Create the hub's channel and start its reader (once; concurrent callers wait)."""
        if self.channel is not None:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self.channel is not None:
                return
            self.layer = get_channel_layer()
            channel = await self.layer.new_channel()
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._read(channel)), loop.create_task(self._recheck_loop())]
            self.channel = channel

    async def join(self, group: str) -> None:
        """Count one more holder of `group`; returns once the hub's channel is subscribed to it
        (a holder that arrives while the subscription is in flight waits for the same one).
        Raises what group_add raised (the layer is down); the holder is then not counted."""
        await self.start()
        self.refs[group] = self.refs.get(group, 0) + 1
        try:
            discarding = self._discarding.get(group)
            if discarding is not None:  # subscribe again once the unsubscribe is through
                await asyncio.shield(discarding)
            pending = self._subscribing.get(group)
            if pending is None and group not in self.subscribed_ns:
                loop = asyncio.get_running_loop()
                pending = self._subscribing[group] = loop.create_future()
                self._to_subscribe.append(group)
                if self._subscriber is None:
                    self._subscriber = loop.create_task(self._subscribe_queued())
                    self._tasks.append(self._subscriber)
            if pending is not None:
                await asyncio.shield(pending)
        except BaseException:
            self._unref(group)
            raise

    async def _subscribe_queued(self) -> None:
        """Subscribe the channel to every group queued by `join` since the last pass, in one
        group_add_many (one SUBSCRIBE per shard), until none is queued. A storm's handshakes each
        join their own `user.<id>`: one group_add each went through the shard's lock and a pass
        of the event loop apiece, 10,000 passes before the last socket could be ready
        (docs/benchmarks.md, "Reconnect storm"). A failure reaches every joiner of the pass."""
        try:
            while self._to_subscribe:
                groups, self._to_subscribe = self._to_subscribe, []
                try:
                    await self.layer.group_add_many(groups, self.channel)
                except Exception as exc:
                    for group in groups:
                        pending = self._subscribing.pop(group)
                        pending.set_exception(exc)
                        pending.exception()  # retrieved: the joiners re-raise it, nobody else needs to
                    continue
                except BaseException:
                    for group in groups:
                        self._subscribing.pop(group).cancel()
                    raise
                now = time.monotonic_ns()
                for group in groups:
                    self.subscribed_ns[group] = now
                    self._subscribing.pop(group).set_result(None)
                    if group not in self.refs:  # its joiners left (cancelled) while it was in flight
                        self._discard_later(group)
        finally:
            if self._subscriber is asyncio.current_task():
                self._tasks.remove(self._subscriber)
                self._subscriber = None

    def _unref(self, group: str) -> bool:
        """One holder fewer; True when it was the last."""
        count = self.refs.get(group, 0) - 1
        if count > 0:
            self.refs[group] = count
            return False
        self.refs.pop(group, None)
        return True

    async def leave(self, group: str) -> None:
        """One holder of `group` fewer; after the last one the hub's channel is unsubscribed
        WS_GROUP_DISCARD_DELAY_SECONDS later unless a holder came back meanwhile (module doc)."""
        if not self._unref(group) or group not in self.subscribed_ns:
            return
        self._discard_later(group)

    def _discard_later(self, group: str) -> None:
        """Queue `group` for the discarder's next pass (started if it is not running)."""
        self._unheld.add(group)
        if self._discarder is None:
            self._discarder = asyncio.get_running_loop().create_task(self._discard_unheld())
            self._tasks.append(self._discarder)

    async def _discard_unheld(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._unheld:
                await asyncio.sleep(settings.WS_GROUP_DISCARD_DELAY_SECONDS)
                groups, self._unheld = self._unheld, set()
                for group in groups:
                    if group in self.refs or group not in self.subscribed_ns:
                        continue  # held again: it stayed subscribed
                    self.subscribed_ns.pop(group)
                    done = self._discarding[group] = loop.create_future()
                    try:
                        await self.layer.group_discard(group, self.channel)
                    except Exception:  # layer down: the next group_add re-subscribes
                        log.warning("%s: group_discard %s failed", self.name, group, exc_info=True)
                    finally:
                        del self._discarding[group]
                        done.set_result(None)
        finally:
            if self._discarder is asyncio.current_task():
                self._tasks.remove(self._discarder)
                self._discarder = None

    async def discards_done(self) -> None:
        """Wait until every group nobody holds is unsubscribed (tests; WS_GROUP_DISCARD_DELAY_SECONDS)."""
        while self._discarder is not None:
            await asyncio.shield(self._discarder)

    def subscribed_before(self, groups: list[str], moment_ns: int) -> bool:
        """Whether every one of `groups` was subscribed (group_add returned) before `moment_ns`
        (time.monotonic_ns on this loop) and has stayed subscribed since."""
        return all(self.subscribed_ns.get(g, moment_ns) < moment_ns for g in groups)

    # -- the reader -------------------------------------------------------------------------
    async def _read(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # layer down: channels_redis reconnects; keep reading
                log.warning("%s: receive failed", self.name, exc_info=True)
                await asyncio.sleep(1)
                continue
            try:
                await self.dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: message %s failed", self.name, message.get("type"))

    async def dispatch(self, message: dict) -> None:
        """Handle one layer message (see the module doc); unknown types are ignored."""
        kind = message.get("type")
        if kind == "outbox.event":
            dropped = DROPS.take(self.channel)
            if dropped is not None:
                await self._replay_dropped(min(dropped, message["id"]) - 1)
            await self.deliver(message["id"], message.get("group"), message["text"])
        elif kind == "access.recheck":
            user_id = message.get("userId")
            await self.recheck(self.local_users() if user_id is None else [user_id])

    async def _replay_dropped(self, after: int) -> None:
        rows = await replay_read(list(self.refs), max(0, after), settings.RESUME_MAX)
        for row_id, group, text in rows:
            await self.deliver(row_id, group, text)

    # -- access control ---------------------------------------------------------------------
    def handshake_started(self, user_id: int) -> None:
        """A handshake of `user_id` reads the user now: a recheck for them until
        `handshake_done` is remembered (their block may have committed after the read)."""
        self.handshaking[user_id] = self.handshaking.get(user_id, 0) + 1

    def handshake_done(self, user_id: int) -> bool:
        """End a handshake; True when the user was rechecked meanwhile (read them again)."""
        count = self.handshaking.get(user_id, 0) - 1
        if count > 0:
            self.handshaking[user_id] = count
            return user_id in self.recheck_due
        self.handshaking.pop(user_id, None)
        due = user_id in self.recheck_due
        self.recheck_due.discard(user_id)
        return due

    def note_recheck(self, user_ids: list[int]) -> None:
        """Remember a recheck of users whose handshake is in flight (`handshake_done`)."""
        self.recheck_due.update(u for u in user_ids if u in self.handshaking)

    async def _recheck_loop(self) -> None:
        # Safety net for a lost control message: every WS_RECHECK_SECONDS (read each round, so
        # a test may shorten it), all local users, RECHECK_CHUNK per read.
        while True:
            interval = settings.WS_RECHECK_SECONDS
            await asyncio.sleep(interval if interval > 0 else 60)
            if interval <= 0:
                continue
            try:
                users = self.local_users()
                for start in range(0, len(users), RECHECK_CHUNK):
                    await self.recheck(users[start:start + RECHECK_CHUNK])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: recheck failed", self.name)
