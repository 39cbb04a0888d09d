"""Outbox frames as Socket.IO event packets, encoded once per event (docs/realtime.md).

An outbox frame `{"type": "event", "id", "channel", "ts", "requestId", "data"}` becomes the
Socket.IO event `channel` with arguments `(data, {"id", "ts", "requestId"}, "<id>")`: `data` is
exactly the JSON frame's data, so the guide's `socket.on("listings.update", (data) => ...)`
works unchanged; the envelope is there for clients that want it; the last argument, the outbox
id as a string, is the offset socket.io-client keeps for connection state recovery.
"""
from __future__ import annotations

import orjson
from engineio import packet as eio_packet
from socketio import packet as sio_packet


def _message(payload: list) -> eio_packet.Packet:
    # Socket.IO v4 EVENT packet on the main namespace without ack id: "2" + JSON array.
    text = str(sio_packet.EVENT) + orjson.dumps(payload).decode()
    return eio_packet.Packet(eio_packet.MESSAGE, text)


def event_packet(frame_text: str) -> eio_packet.Packet:
    """The Engine.IO MESSAGE packet of one outbox frame (see the module doc), ready to send to
    every socket of the room."""
    frame = orjson.loads(frame_text)
    envelope = {"id": frame["id"], "ts": frame["ts"], "requestId": frame.get("requestId", "")}
    return _message([frame["channel"], frame["data"], envelope, str(frame["id"])])


def stats_packet(frame_text: str) -> eio_packet.Packet:
    """`admin.stats` (realtime.dashboard): `(data, {"ts"})` -- a snapshot, never replayed, so no
    offset (its last argument is not a string, which socket.io-client would take for one)."""
    frame = orjson.loads(frame_text)
    return _message(["admin.stats", frame["data"], {"ts": frame["ts"]}])
