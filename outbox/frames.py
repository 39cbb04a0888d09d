"""The websocket frame of an outbox row (docs/realtime.md), serialized once per row."""
from __future__ import annotations

import json

import orjson

from django.core.serializers.json import DjangoJSONEncoder

from .models import EventOutbox


def event_frame(row: EventOutbox) -> dict:
    """`{"type": "event", "id", "channel", "ts", "requestId", "data"}`; `ts` is ISO 8601 UTC."""
    return {
        "type": "event",
        "id": row.id,
        "channel": row.channel,
        "ts": row.created_at.isoformat().replace("+00:00", "Z"),
        "requestId": row.request_id,
        "data": row.payload,
    }


def event_text(row: EventOutbox) -> str:
    """The frame as JSON text, ready to write to every socket in the group.

    orjson (payloads are already plain JSON: publish() normalizes them); DjangoJSONEncoder for
    anything else. The relay serializes thousands of these a second."""
    frame = event_frame(row)
    try:
        return orjson.dumps(frame).decode()
    except TypeError:
        return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":"))


def layer_message(row: EventOutbox) -> dict:
    """The channel-layer message that the ws hubs write to their sockets (realtime.fanout).

    `group` lets a process-wide reader (the Socket.IO hub, realtime.socketio.hub) that joined many
    groups on one channel route the event to the right room."""
    return {"type": "outbox.event", "id": row.id, "group": row.group, "text": event_text(row)}
