"""Handshake reads batched across the sockets that connect at the same moment (docs/realtime.md,
"Connect path").

A websocket handshake (Socket.IO or `/ws/events/`) verifies its token on the event loop (no
database: `accounts.authentication.token_user_id`) and then needs, from PostgreSQL, the token's
user (role and block are never taken from the token), the outbox watermark (the largest outbox
id now) and, for a recovering Socket.IO client, whether the event it resumes after is still kept.
One query each per socket was the connect path's profile: after a restart every client comes back
at once, and 1,000 handshakes meant 3,000 round trips through the process's database threads.

`handshake_read(user_id, after=...)` queues the socket's request; one reader per event loop takes
every request queued so far and answers them all with one database call: one `IN` query for the
users, one for the watermark, one `IN` query for the kept ids. Requests that arrive while it
runs form the next batch, so a lone connect waits for nobody and a storm is read in a few dozen
calls instead of thousands.

`Batch.started_ns` (time.monotonic_ns) is taken on the event loop before the database call: a
Socket.IO socket whose groups were all subscribed before that moment gets every event with an id
above the batch's watermark live, so it needs no catch-up read at all (realtime.socketio.hub).
"""
from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from outbox.models import EventOutbox
from outbox.replay import watermark

from .db import db_call

# At most this many users per IN query; a larger queue is read in several batches.
BATCH_MAX = 500


@dataclass(frozen=True)
class Batch:
    """One database call's answer for every handshake in it.

    users: {id: active user row} (unknown, deleted or inactive users are absent); watermark: the
    largest outbox id at the read (0 when empty); kept: the asked-for outbox ids still within
    OUTBOX_RETENTION; since: epoch seconds where the retention window begins; started_ns: the
    event loop's monotonic_ns just before the read was issued."""

    users: dict[int, object]
    watermark: int
    kept: frozenset[int]
    since: float
    started_ns: int

    def replayable_after(self, after: int, issued_at: float | None) -> bool:
        """Whether every row with id > `after` is still kept (outbox.replay.replayable_after,
        answered from this batch)."""
        if after == 0:
            return issued_at is not None and issued_at >= self.since
        return after in self.kept


def read_batch(user_ids: Iterable[int], afters: Iterable[int]) -> tuple[dict[int, object], int, frozenset[int], float]:
    """The database part of a batch (sync): (users, watermark, kept ids, since)."""
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=list(user_ids), is_active=True)}
    mark = watermark()
    since = timezone.now() - settings.OUTBOX_RETENTION
    wanted = [a for a in set(afters) if a > 0]
    kept = frozenset(EventOutbox.objects.filter(id__in=wanted, created_at__gte=since).values_list("id", flat=True)
                     ) if wanted else frozenset()
    return users, mark, kept, since.timestamp()


@dataclass
class _Queue:
    waiting: dict[int, list[asyncio.Future]] = field(default_factory=dict)
    afters: set[int] = field(default_factory=set)
    reader: asyncio.Task | None = None


class HandshakeReads:
    """The batching reader of one event loop (see the module doc)."""

    def __init__(self) -> None:
        self._queue = _Queue()

    async def read(self, user_id: int, *, after: int | None = None) -> Batch:
        """The batch that read `user_id` (and checked `after`, an outbox id, when given).

        Raises whatever the database call raised (every socket of that batch gets the error)."""
        future = asyncio.get_running_loop().create_future()
        queue = self._queue
        queue.waiting.setdefault(user_id, []).append(future)
        if after is not None:
            queue.afters.add(after)
        if queue.reader is None:
            queue.reader = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        queue = self._queue
        try:
            while queue.waiting:
                ids = list(queue.waiting)[:BATCH_MAX]
                futures = {i: queue.waiting.pop(i) for i in ids}
                afters, queue.afters = queue.afters, set()
                if queue.waiting:  # the rest go in the next batch: keep what they asked for
                    queue.afters |= afters
                started = time.monotonic_ns()
                try:
                    users, mark, kept, since = await db_call(read_batch, ids, afters)
                except BaseException as exc:  # noqa: BLE001 - handed to every waiter, then re-raised if fatal
                    for waiters in futures.values():
                        for f in waiters:
                            if not f.done():
                                f.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
                    if not isinstance(exc, Exception):
                        raise
                    continue
                batch = Batch(users=users, watermark=mark, kept=kept, since=since, started_ns=started)
                for waiters in futures.values():
                    for f in waiters:
                        if not f.done():
                            f.set_result(batch)
        finally:
            queue.reader = None


_readers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HandshakeReads]" = weakref.WeakKeyDictionary()


async def handshake_read(user_id: int, *, after: int | None = None) -> Batch:
    """`HandshakeReads.read` on the running loop's reader (one per event loop)."""
    loop = asyncio.get_running_loop()
    reader = _readers.get(loop)
    if reader is None:
        reader = _readers[loop] = HandshakeReads()
    return await reader.read(user_id, after=after)
