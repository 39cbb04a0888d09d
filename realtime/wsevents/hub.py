"""The `/ws/events/` hub of an event loop: its local sockets by group and by user, on the one
channel-layer channel of realtime.fanout.LayerHub (docs/realtime.md, "One subscription per
process").

`deliver` writes a row's frame text, decoded once by the layer, to every local socket of the row's
group (each socket keeps its own order, de-duplication and hold: realtime.wsevents.socket).
`recheck` re-reads the users in one query and closes the sockets that may not stay: 4001 for a
deleted or inactive user, 4003 for a blocked one or a socket in `admin` whose user lost the role.
"""
from __future__ import annotations

import asyncio
import weakref

from outbox.services import GROUP_ADMIN

from ..fanout import LayerHub

CLOSE_UNAUTHENTICATED = 4001
CLOSE_FORBIDDEN = 4003


class EventsHub(LayerHub):
    """See the module doc. `hub_for_loop()` gives the running loop's instance."""

    name = "ws events hub"

    def __init__(self):
        super().__init__()
        self.members: dict[str, set] = {}  # group -> the local sockets in it

    def attach(self, sock) -> None:
        """Register a socket that has joined (`join`) each of `sock.groups`: from now on it gets
        their events (held by the socket until it is ready)."""
        for group in sock.groups:
            self.members.setdefault(group, set()).add(sock)
        self.by_user.setdefault(sock.user_id, set()).add(sock)

    def detach(self, sock) -> None:
        """Unregister a socket (no more deliveries to it); its groups are left by the caller."""
        for group in sock.groups:
            members = self.members.get(group)
            if members is not None:
                members.discard(sock)
                if not members:
                    del self.members[group]
        socks = self.by_user.get(sock.user_id)
        if socks is not None:
            socks.discard(sock)
            if not socks:
                del self.by_user[sock.user_id]

    async def deliver(self, row_id: int, group: str | None, text: str) -> None:
        """Write one outbox row to the local sockets of its group (once per process: `sent`)."""
        if group is None or row_id in self.sent:
            return
        self.sent.add(row_id)
        members = self.members.get(group)
        if members:
            for sock in tuple(members):
                sock.event(row_id, text)

    async def verdict(self, user_id: int, user) -> None:
        """Each local socket of the user decides on the row just read (`access_verdict`)."""
        for sock in tuple(self.by_user.get(user_id, ())):
            await sock.access_verdict(user)


def access_code(user, groups) -> int | None:
    """The close code for a socket of `user` in `groups` after a recheck, or None (it may stay):
    4001 deleted or inactive, 4003 blocked or in `admin` without the moderator role."""
    if user is None or not user.is_active:
        return CLOSE_UNAUTHENTICATED
    if user.is_blocked() or (GROUP_ADMIN in groups and not user.is_moderator):
        return CLOSE_FORBIDDEN
    return None


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventsHub]" = weakref.WeakKeyDictionary()


def hub_for_loop() -> EventsHub:
    """The running event loop's hub (one per process under uvicorn; tests run a loop each)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = EventsHub()
    return hub
