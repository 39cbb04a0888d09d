"""Outbox replays of the ws process, batched across sockets (docs/realtime.md, "Connect path").

`replay_read(groups, after, limit)` answers what `outbox.replay.group_rows_after` would, but every
replay asked for at that moment on this event loop (the resumes of a reconnect storm, Socket.IO
catch-ups, dropped-frame replays) is read with one query (`outbox.replay.group_rows_after_many`,
through realtime.batching's `ReadBatcher`).
"""
from __future__ import annotations

from collections.abc import Sequence

from outbox.replay import group_rows_after_many

from .batching import ReadBatcher, per_loop


def _batcher() -> ReadBatcher:
    return ReadBatcher(group_rows_after_many, max_batch=1000)


async def replay_read(groups: Sequence[str], after: int, limit: int) -> list[tuple[int, str, str]]:
    """[(id, group, frame text)] of the rows of `groups` with id > `after`, in id order, at most
    `limit` (outbox.replay.group_rows_after). Raises what the database call raised."""
    rows, _started = await per_loop(_batcher).ask((tuple(groups), after, limit))
    return rows
