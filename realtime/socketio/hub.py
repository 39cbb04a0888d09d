"""The per-process Socket.IO hub: one channel-layer channel for every Socket.IO socket of the
process (docs/realtime.md, "Socket.IO clients").

The hub's channel (`layer.new_channel()`) joins the groups its local sockets need (`user.<id>`,
`admin`, `public`), counted per socket (group_add on the first, group_discard after the last).
One reader task receives each layer message once and:
- `outbox.event`: builds the Socket.IO packet once and writes it to every local socket of the
  group's room (`user:<id>`, `admin`, `public`);
- `access.recheck` (outbox.control, sent when a user is blocked or their role changes): re-reads
  the user; a blocked or inactive user's sockets are disconnected ("io server disconnect"), a
  user who lost the moderator role leaves `admin`.
Several ws processes on one Redis each run a hub, so every socket gets its events whatever
process it is on. The hub's buffer is bounded like every socket's (outbox.transport's layers); when the
layer dropped frames for it, the hub replays them from the outbox, in id order, before the next.

Catch-up: a socket that connects replays the outbox after its offset (realtime.socketio.server)
while live events for it are held back (`catching_up`); afterwards the held events it did not
get from the replay are written, in order, and live duplicates of replayed rows are skipped.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings

from outbox.services import GROUP_ADMIN

from .. import dashboard
from ..fanout import LayerHub
from ..replays import replay_read
from .packets import event_packet, stats_packet

log = logging.getLogger(__name__)
NAMESPACE = "/"


def room_of(group: str) -> str:
    """The Socket.IO room of a channel-layer group: `user.<id>` -> `user:<id>` (the Node guide's
    name); `admin` and `public` keep theirs."""
    return "user:" + group[5:] if group.startswith("user.") else group


@dataclass
class SocketState:
    """One local Socket.IO socket: its user, groups and expiry timer."""

    sid: str
    eio_sid: str
    user_id: int
    groups: list[str]
    timer: asyncio.TimerHandle | None = None
    stats: "_StatsMember | None" = None


class _StatsMember:
    """The socket's membership in the dashboard's StatsHub (admin.stats once a second)."""

    def __init__(self, hub: "Hub", eio_sid: str):
        self.hub, self.eio_sid = hub, eio_sid

    async def admin_stats(self, message: dict) -> None:
        await self.hub.server.eio.send_packet(self.eio_sid, stats_packet(message["text"]))


@dataclass
class _Replayed:
    ids: set[int] = field(default_factory=set)
    top: int = 0


class Hub(LayerHub):
    """See the module doc. One per process (`hub_for(server)`), on the server's event loop; the
    channel, its counted groups, the reader and the recheck loop are realtime.fanout.LayerHub's."""

    name = "socket.io hub"

    def __init__(self, server):
        super().__init__()
        self.server = server
        self.sockets: dict[str, SocketState] = {}
        self.catching_up: dict[str, list] = {}
        self.replayed: dict[str, _Replayed] = {}

    async def hold(self, group: str) -> None:
        """Subscribe to `group` for a handshake in progress (before its watermark is read: see
        `catch_up`); every `hold` is paired with a `release`."""
        await self.join(group)

    async def release(self, group: str) -> None:
        await self.leave(group)

    # -- sockets ----------------------------------------------------------------------------
    async def attach(self, *, sid: str, user, deadline: float | None) -> SocketState:
        """Register an authenticated socket: rooms, groups, expiry; its live events are held
        until `catch_up` runs (after the CONNECT reply). On an error (the layer is down) nothing
        of the socket stays registered and the error propagates."""
        await self.start()
        eio_sid = self.server.manager.eio_sid_from_sid(sid, NAMESPACE)
        state = SocketState(sid=sid, eio_sid=eio_sid, user_id=user.pk, groups=list(user.groups_for_events))
        self.catching_up[sid] = []  # before the rooms: an event for them now is held, not sent
        joined: list[str] = []
        try:
            for group in state.groups:
                await self.server.enter_room(sid, room_of(group))
            for group in state.groups:
                await self.join(group)
                joined.append(group)
        except BaseException:
            self.catching_up.pop(sid, None)
            for group in joined:
                await self.leave(group)
            raise
        self.sockets[sid] = state
        self.by_user.setdefault(user.pk, set()).add(sid)
        if deadline is not None:
            delay = max(0.0, deadline - time.time())
            state.timer = asyncio.get_running_loop().call_later(
                delay, lambda: asyncio.ensure_future(self.server.disconnect(sid)))
        if GROUP_ADMIN in state.groups:
            state.stats = _StatsMember(self, eio_sid)
            dashboard.hub.join(state.stats)
        return state

    async def detach(self, sid: str) -> None:
        """Forget a disconnected socket (its rooms are left by python-socketio)."""
        state = self.sockets.pop(sid, None)
        self.catching_up.pop(sid, None)
        self.replayed.pop(sid, None)
        if state is None:
            return
        if state.timer is not None:
            state.timer.cancel()
        if state.stats is not None:
            dashboard.hub.leave(state.stats)
        sids = self.by_user.get(state.user_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self.by_user[state.user_id]
        for group in state.groups:
            await self.leave(group)

    async def catch_up(self, sid: str, after: int, *, replay: bool = True) -> None:
        """Write the outbox rows of the socket's groups with id > `after` (in id order), then the
        live events held meanwhile that the replay did not include; then go live.

        `replay=False` when nothing can be owed: a new session whose groups were all subscribed
        before its watermark `after` was read receives every later event live (an event with a
        larger id committed after that read, so it was published after the subscription; the
        handshake batch's `started_ns`, realtime.handshakes). Then only the held events are
        written, with no database read."""
        state = self.sockets.get(sid)
        if state is None:
            return
        done = _Replayed()
        limit = settings.RESUME_MAX
        try:
            while replay and sid in self.sockets:
                rows = await replay_read(state.groups, after, limit)
                for row_id, _group, text in rows:
                    await self.server.eio.send_packet(state.eio_sid, event_packet(text))
                    done.ids.add(row_id)
                    done.top = after = row_id
                if len(rows) < limit:
                    break
        finally:
            held = self.catching_up.get(sid) or []
            while held:  # no await between the last check and going live: nothing slips past
                row_id, pkt = held.pop(0)
                if row_id in done.ids:
                    continue
                await self.server.eio.send_packet(state.eio_sid, pkt)
            self.catching_up.pop(sid, None)
            if done.ids and sid in self.sockets:
                self.replayed[sid] = done

    # -- fan-out --------------------------------------------------------------------------
    async def deliver(self, row_id: int, group: str | None, text: str) -> None:
        """Write one outbox row to the local sockets of its group's room (once per process)."""
        if group is None or row_id in self.sent:
            return
        self.sent.add(row_id)
        pkt = event_packet(text)
        held, replayed = self.catching_up, self.replayed
        send = self.server.eio.send_packet
        for sid, eio_sid in self.server.manager.get_participants(NAMESPACE, room_of(group)):
            if held and sid in held:
                held[sid].append((row_id, pkt))
                continue
            if replayed:
                done = replayed.get(sid)
                if done is not None:
                    if row_id in done.ids:
                        done.ids.discard(row_id)
                        continue
                    if row_id > done.top:
                        del replayed[sid]
            await send(eio_sid, pkt)

    # -- access control ---------------------------------------------------------------------
    async def verdict(self, user_id: int, user) -> None:
        """Disconnect the sockets of a blocked/inactive/deleted user, take a user who lost the
        moderator role out of `admin` (docs/realtime.md)."""
        for sid in list(self.by_user.get(user_id, ())):
            if user is None or not user.is_active or user.is_blocked():
                await self.server.disconnect(sid)
            elif not user.is_moderator:
                await self._leave_admin(sid)

    async def _leave_admin(self, sid: str) -> None:
        state = self.sockets.get(sid)
        if state is None or GROUP_ADMIN not in state.groups:
            return
        state.groups.remove(GROUP_ADMIN)
        await self.server.leave_room(sid, room_of(GROUP_ADMIN))
        if state.stats is not None:
            dashboard.hub.leave(state.stats)
            state.stats = None
        await self.leave(GROUP_ADMIN)
