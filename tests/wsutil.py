"""Helpers for websocket tests with channels' WebsocketCommunicator against the real ASGI app."""
from __future__ import annotations

import json

from channels.testing import WebsocketCommunicator

from accounts.tokens import access_token_for
from dgt.asgi import application


async def ws_connect(user=None, *, token: str | None = None, headers=None, first_frame: bool = False):
    """Open /ws/events/ as `user` (Bearer header by default, or the first-frame auth) and wait
    for the `ready` frame. Returns (communicator, ready_frame)."""
    token = token or (access_token_for(user) if user else None)
    hdrs = list(headers or [])
    if token and not first_frame:
        hdrs.append((b"authorization", f"Bearer {token}".encode()))
    comm = WebsocketCommunicator(application, "/ws/events/", headers=hdrs)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    if first_frame and token:
        await comm.send_json_to({"type": "auth", "token": token})
    ready = await comm.receive_json_from(timeout=5) if token else None
    return comm, ready


async def ws_frames(comm, *, quiet: float = 0.5, limit: int = 100) -> list[dict]:
    """Every frame until the socket stays quiet for `quiet` seconds (or closes)."""
    frames: list[dict] = []
    while len(frames) < limit:
        # receive_output() cancels the application on timeout; receive_nothing() only waits.
        if await comm.receive_nothing(timeout=quiet, interval=0.02):
            break
        message = await comm.receive_output()
        if message["type"] == "websocket.close":
            frames.append({"type": "_closed", "code": message.get("code")})
            break
        frames.append(json.loads(message["text"]))
    return frames
