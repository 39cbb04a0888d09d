"""Helpers for the outbox tests: websocket clients on the real ASGI app, a failing layer."""
from __future__ import annotations

import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from accounts.tokens import access_token_for


async def open_socket(user=None, *, token: str | None = None, headers=None, app=None):
    """Open /ws/events/ with a Bearer token for `user`; returns (communicator, ready frame)."""
    from dgt.asgi import application

    token = token or access_token_for(user)
    hdrs = [(b"authorization", f"Bearer {token}".encode()), *(headers or [])]
    comm = WebsocketCommunicator(app or application, "/ws/events/", headers=hdrs)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    ready = await comm.receive_json_from(timeout=5)
    return comm, ready


async def frames_until_quiet(comm, *, quiet: float = 0.5, limit: int = 2000, skip_stats: bool = True) -> list[dict]:
    """Every frame until the socket stays quiet for `quiet` s; a close is `{"type": "_closed"}`."""
    frames: list[dict] = []
    while len(frames) < limit:
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


async def next_close(comm, timeout: float = 10) -> int | None:
    """Wait for the server to close the socket (skipping frames); its close code."""
    while True:
        message = await comm.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return message.get("code")


@pytest.fixture
def layer_down(monkeypatch):
    """Make the channel layer fail every group_send, as when Redis is unreachable."""
    layer = get_channel_layer()

    async def failing(group, message):
        raise ConnectionError("layer down (test)")

    def failing_pipeline(layer, rows):
        from outbox.transport import BatchResult

        return BatchResult(error=ConnectionError("layer down (test)"))

    monkeypatch.setattr(layer, "group_send", failing)
    # Services mode publishes through a Redis pipeline, not group_send: fail that too.
    monkeypatch.setattr("outbox.transport._publish_pipelined", failing_pipeline)
    return lambda: monkeypatch.undo()
