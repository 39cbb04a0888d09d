"""Direct websocket writes of the Socket.IO endpoint (realtime.socketio.transport, realtime.eager;
docs/realtime.md, "Socket.IO clients", writes).

These drive python-engineio's own websocket handler and writer (the version pinned in
requirements.txt) with a fake websocket, so they also pin what the transport relies on in it.
"""
from __future__ import annotations

import asyncio

import engineio
import pytest
from engineio import packet

from realtime.eager import start_eagerly
from realtime.socketio.transport import DirectSocket, EngineServer


class FakeWebSocket:
    """The shape python-engineio's ASGI WebSocket gives its handler: send(text), wait(), close().
    `gate`, when set, makes the next send wait for it (a paused transport)."""

    def __init__(self):
        self.sent: list[str] = []
        self.inbound: asyncio.Queue = asyncio.Queue()
        self.closed = False
        self.gate: asyncio.Future | None = None
        self.fail = False

    async def send(self, text):
        if self.fail:
            raise OSError("transport gone")
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate
        self.sent.append(text)

    async def wait(self):
        item = await self.inbound.get()
        if item is None:
            raise OSError("closed by client")
        return item

    async def close(self):
        self.closed = True


def _msg(n: int) -> packet.Packet:
    return packet.Packet(packet.MESSAGE, f"2[\"e\",{n}]")


async def _settle(rounds: int = 20):
    for _ in range(rounds):
        await asyncio.sleep(0)


async def _socket(server, *, queued: int = 1):
    """A DirectSocket over websocket, as python-engineio makes one, with `queued` packets sent
    before its transport was up, and the task running python-engineio's websocket handler."""
    sock = engineio.async_socket.AsyncSocket(server, server.generate_id())
    server.sockets[sock.sid] = sock
    DirectSocket.adopt(sock)
    for n in range(queued):
        await sock.send(_msg(-1 - n))
    ws = FakeWebSocket()
    handler = asyncio.get_running_loop().create_task(sock._websocket_handler(ws))
    await _settle()
    return sock, ws, handler


async def _stop(ws, handler):
    ws.inbound.put_nowait(None)
    await asyncio.wait_for(handler, 5)


def _server(**kwargs):
    return EngineServer(async_mode="asgi", **kwargs)


def test_queued_packets_first_then_direct_writes_in_the_caller():
    async def run():
        sock, ws, handler = await _socket(_server(), queued=2)
        assert ws.sent == [_msg(-1).encode(), _msg(-2).encode()]  # the writer emptied the queue
        assert sock._direct
        await sock.send(_msg(1))
        assert ws.sent[-1] == _msg(1).encode()  # written before send returned: no writer hop
        await _stop(ws, handler)
        assert ws.closed and sock.closed

    asyncio.run(run())


def test_a_paused_socket_holds_back_neither_the_caller_nor_other_sockets_and_keeps_its_order():
    async def run():
        server = _server()
        slow, slow_ws, slow_handler = await _socket(server)
        fast, fast_ws, fast_handler = await _socket(server)
        gate = slow_ws.gate = asyncio.get_running_loop().create_future()
        for n in range(1, 4):
            await asyncio.wait_for(slow.send(_msg(n)), 1)  # never waits for the slow client
            await fast.send(_msg(n))
        assert fast_ws.sent[1:] == [_msg(n).encode() for n in range(1, 4)]
        assert slow_ws.sent[1:] == []
        gate.set_result(None)
        await _settle()
        assert slow_ws.sent[1:] == [_msg(n).encode() for n in range(1, 4)]
        await slow.send(_msg(4))  # the stall is over: direct again
        assert slow_ws.sent[-1] == _msg(4).encode() and slow._stalled is None
        await _stop(slow_ws, slow_handler)
        await _stop(fast_ws, fast_handler)

    asyncio.run(run())


def test_a_failed_write_hands_the_socket_back_to_the_writer_which_ends_the_transport():
    async def run():
        sock, ws, handler = await _socket(_server())
        ws.fail = True
        await sock.send(_msg(1))
        assert not sock._direct
        await sock.send(_msg(2))  # queued; the writer fails on it and closes the websocket
        await _settle()
        assert ws.closed and ws.sent == [_msg(-1).encode()]
        await _stop(ws, handler)

    asyncio.run(run())


def test_the_writer_does_not_time_out_when_every_packet_is_written_directly():
    # python-engineio's writer waits ping_interval + ping_timeout for a queued packet and then
    # closes the websocket; direct writes (pings included) leave the queue empty. The client
    # answers pings (a PONG every 30 ms), so the reading side stays up.
    async def run():
        sock, ws, handler = await _socket(_server(ping_interval=0.05, ping_timeout=0.05))
        for _ in range(14):
            ws.inbound.put_nowait(packet.Packet(packet.PONG).encode())
            await asyncio.sleep(0.03)
        assert not ws.closed and not handler.done()
        assert packet.Packet(packet.PING).encode() in ws.sent  # the pings were written directly
        await sock.send(_msg(1))
        assert ws.sent[-1] == _msg(1).encode()
        await _stop(ws, handler)

    asyncio.run(run())


def test_polling_sockets_keep_the_queue():
    async def run():
        server = _server()
        sock = engineio.async_socket.AsyncSocket(server, server.generate_id())
        DirectSocket.adopt(sock)
        sock.connected = True
        await sock.send(_msg(1))
        assert [p.encode() for p in await sock.poll()] == [_msg(1).encode()]
        assert not sock._direct

    asyncio.run(run())


# -- realtime.eager ---------------------------------------------------------------------------

def test_a_coroutine_that_never_waits_runs_to_its_end_in_the_call():
    done = []

    async def work():
        done.append(1)
        return 5

    async def run():
        assert start_eagerly(work()) is None
        assert done == [1]

    asyncio.run(run())


def test_a_coroutine_that_waits_is_finished_by_what_start_eagerly_returns():
    async def run():
        fut = asyncio.get_running_loop().create_future()
        steps = []

        async def work():
            steps.append("before")
            value = await fut
            steps.append(value)
            await asyncio.sleep(0)
            return value * 2

        rest = start_eagerly(work())
        assert steps == ["before"] and rest is not None
        task = asyncio.get_running_loop().create_task(rest)
        await _settle()
        assert not task.done()
        fut.set_result(21)
        assert await task == 42 and steps == ["before", 21]

    asyncio.run(run())


def test_errors_reach_the_caller_before_and_after_the_first_wait():
    async def run():
        async def fails_now():
            raise ValueError("now")

        with pytest.raises(ValueError, match="now"):
            start_eagerly(fails_now())

        fut = asyncio.get_running_loop().create_future()

        async def fails_later():
            await fut

        rest = start_eagerly(fails_later())
        fut.set_exception(OSError("later"))
        with pytest.raises(OSError, match="later"):
            await rest

    asyncio.run(run())


def test_cancelling_the_rest_runs_the_coroutines_cleanup():
    async def run():
        fut = asyncio.get_running_loop().create_future()
        cleaned = []

        async def work():
            try:
                await fut
            finally:
                cleaned.append(True)

        task = asyncio.get_running_loop().create_task(start_eagerly(work()))
        await _settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleaned == [True] and fut.cancelled()

    asyncio.run(run())
