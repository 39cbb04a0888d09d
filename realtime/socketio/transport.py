"""Engine.IO websocket writes without a queue and a writer task per packet
(docs/realtime.md, "Socket.IO clients", writes).

python-engineio (4.x, pinned in requirements.txt) sends every packet of a socket through an
`asyncio.Queue` that a writer task per socket drains, with an `asyncio.wait_for` (on Python 3.11, a
task) per packet. A fan-out to N sockets then costs N writer wake-ups and 3N passes of the event
loop before the last socket has its frame: most of the Socket.IO endpoint's event latency. Here,
once a socket's websocket transport is up and the writer has written everything queued before
(it asks `poll` for more with the queue empty), the socket switches to direct writes: `send`
writes the packet to the websocket at once, in the caller (realtime.eager.start_eagerly). If a
write has to wait (the client is not reading and its transport is paused), the rest of that write
and every later packet of that socket go, in order, through one task of the socket's own; other
sockets are not held back. A write that fails switches the socket back to python-engineio's
queue, whose writer then fails the same way and ends the transport, as it did before.

Long-polling sockets, and a socket until its upgrade to websocket completes, keep
python-engineio's queue unchanged. The writer task stays parked on the queue, woken only to stop.
"""
from __future__ import annotations

import asyncio
import collections
import logging

import engineio
from engineio.async_socket import AsyncSocket

from ..eager import start_eagerly

log = logging.getLogger(__name__)


class DirectSocket(AsyncSocket):
    """python-engineio's AsyncSocket with direct websocket writes (see the module doc)."""

    _ws = None  # the engineio ASGI WebSocket of the websocket transport, once it is up
    _direct = False  # writes go to _ws directly
    _failed = False  # a direct write failed: python-engineio's writer ends the transport
    _stalled: asyncio.Task | None = None  # the write in progress after one had to wait
    _backlog: collections.deque | None = None  # packets behind _stalled, in order

    @classmethod
    def adopt(cls, socket: AsyncSocket) -> None:
        """Make a just-created python-engineio socket a DirectSocket (python-engineio builds its
        sockets inline; the class adds behaviour and no state that __init__ would have set)."""
        if type(socket) is AsyncSocket:
            socket.__class__ = cls

    async def _websocket_handler(self, ws):
        self._ws = ws
        try:
            return await super()._websocket_handler(ws)
        finally:
            self._direct = False

    async def poll(self):
        if self._ws is None or not self.upgraded or self.upgrading:
            return await super().poll()  # long-polling, or the upgrade in progress
        # The websocket writer asks for its next packets: all it was given has been written.
        if self.queue.empty() and self._stalled is None and not self._failed:
            self._direct = True
        if not self._direct:
            return await super().poll()
        # Direct: only `None` (stop) or a packet queued after a failed direct write arrives here;
        # no timeout, as the pings are written directly and no longer pass through the queue.
        pkt = await self.queue.get()
        self.queue.task_done()
        return [] if pkt is None else [pkt]

    async def send(self, pkt):
        if not self._direct:
            return await super().send(pkt)
        if not await self.check_ping_timeout():
            return
        if self._stalled is not None:
            self._backlog.append(pkt)
            return
        try:
            rest = start_eagerly(self._ws.send(pkt.encode()))
        except Exception:
            self._fall_back()
            return
        if rest is not None:
            self._backlog = collections.deque()
            self._stalled = asyncio.get_running_loop().create_task(self._write_on(rest))

    async def _write_on(self, rest) -> None:
        """Finish the write that had to wait, then the packets sent meanwhile, in order."""
        try:
            await rest
            while self._backlog:
                await self._ws.send(self._backlog.popleft().encode())
        except Exception:
            self._fall_back()
        finally:
            self._stalled = None

    def _fall_back(self) -> None:
        # The transport is gone: what is left goes to python-engineio's writer, which ends it.
        self._direct, self._failed = False, True
        backlog, self._backlog = self._backlog or (), None
        for pkt in backlog:
            self.queue.put_nowait(pkt)


class EngineServer(engineio.AsyncServer):
    """python-engineio's AsyncServer whose sockets are DirectSockets."""

    async def _trigger_event(self, event, *args, **kwargs):
        if event == "connect":  # the socket was just created and registered
            socket = self.sockets.get(args[0])
            if socket is not None:
                DirectSocket.adopt(socket)
        return await super()._trigger_event(event, *args, **kwargs)
