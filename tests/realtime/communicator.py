"""The one helper for websocket tests on the ASGI app through channels' `WebsocketCommunicator`.

Every socket is opened in an `async with` block and disconnected when the block ends, whatever
happens in it: a socket left open keeps its consumer task and its database connection alive after
the test, and on SQLite the next test that writes fails with "database table is locked"
(docs/testing.md, "Flakes"). Tests of real server processes use `tests/realtime/rawws.py` (raw
frames) or the socket.io-client harness (`tests/realtime/sio.py`) instead.
"""
from __future__ import annotations

import contextlib
import json
from contextlib import asynccontextmanager

from channels.testing import WebsocketCommunicator

from accounts.tokens import access_token_for

EVENTS_PATH = "/ws/events/"


@asynccontextmanager
async def ws_open(path: str = EVENTS_PATH, *, headers=(), app=None):
    """Connect a communicator to `path` of the real ASGI app (or `app`) with `headers` (a list of
    (bytes, bytes)); yields (communicator, accepted) where `accepted` says whether the handshake
    was accepted. The communicator is disconnected when the block ends."""
    if app is None:
        from dgt.asgi import application as app
    comm = WebsocketCommunicator(app, path, headers=list(headers))
    try:
        accepted, _ = await comm.connect(timeout=5)
        yield comm, accepted
    except BaseException:
        with contextlib.suppress(Exception):  # the block's own failure is the one to report
            await comm.disconnect()
            await _groups_left()
        raise
    else:
        await comm.disconnect()
        await _groups_left()


async def _groups_left() -> None:
    """Wait until the loop's `/ws/events/` hub has unsubscribed the groups nobody holds (they are
    left WS_GROUP_DISCARD_DELAY_SECONDS after the last socket, 0 in tests; realtime.fanout): the
    test's event loop ends next, and the in-memory layer, shared by every test, must not keep them."""
    from realtime.wsevents.hub import hub_for_loop

    await hub_for_loop().discards_done()


@asynccontextmanager
async def ws_connect(user=None, *, token: str | None = None, headers=(), first_frame: bool = False,
                     path: str = EVENTS_PATH, app=None):
    """Open `path` authenticated as `user` (or with `token`): a Bearer header, or the first-frame
    auth (`{"type": "auth", "token": ...}`) when `first_frame`; without user and token nothing is
    sent. Asserts the handshake was accepted and, when a token was sent, that the first frame is
    `ready`. Yields (communicator, the ready frame or None); disconnected when the block ends."""
    token = token or (access_token_for(user) if user is not None else None)
    all_headers = list(headers)
    if token and not first_frame:
        all_headers.append((b"authorization", f"Bearer {token}".encode()))
    async with ws_open(path, headers=all_headers, app=app) as (comm, accepted):
        assert accepted
        if token and first_frame:
            await comm.send_json_to({"type": "auth", "token": token})
        ready = await comm.receive_json_from(timeout=5) if token else None
        assert ready is None or ready["type"] == "ready", ready
        yield comm, ready


async def ws_frames(comm, *, quiet: float = 0.5, limit: int = 2000, skip_stats: bool = False) -> list[dict]:
    """Every frame until the socket stays quiet for `quiet` seconds (at most `limit`); a close by
    the server ends the list as `{"type": "_closed", "code": ...}`. `skip_stats` leaves out the
    `stats` frames admin sockets get."""
    frames: list[dict] = []
    while len(frames) < limit:
        # receive_output() cancels the application on timeout; receive_nothing() only waits.
        if await comm.receive_nothing(timeout=quiet, interval=0.01):
            break
        message = await comm.receive_output()
        if message["type"] == "websocket.close":
            frames.append({"type": "_closed", "code": message.get("code")})
            break
        frame = json.loads(message["text"])
        if skip_stats and frame.get("type") == "stats":
            continue
        frames.append(frame)
    return frames


async def ws_close_code(comm, timeout: float = 10) -> int | None:
    """Wait for the server to close the socket, skipping the frames before the close (e.g.
    `admin.stats` on admin sockets); its close code."""
    while True:
        message = await comm.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return message.get("code")
