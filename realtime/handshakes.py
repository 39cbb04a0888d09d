"""Handshake reads batched across the sockets that connect at the same moment (docs/realtime.md,
"Connect path").

A websocket handshake (Socket.IO or `/ws/events/`) verifies its token on the event loop (no
database: `accounts.authentication.token_user_id`) and then needs, from PostgreSQL, the token's
user (role and block are never taken from the token), the outbox watermark (the largest outbox
id now) and, for a recovering Socket.IO client, whether the event it resumes after is still kept.
One query each per socket was the connect path's profile: after a restart every client comes back
at once, and 1,000 handshakes meant 3,000 round trips through the process's database threads.

`handshake_read(user_id, after=...)` is answered by the loop's `ReadBatcher` (realtime.batching):
every handshake queued at that moment in one database call, with one `IN` query for the users,
one for the watermark and one `IN` query for the kept ids.

`Batch.started_ns` (time.monotonic_ns) is taken on the event loop before the database call: a
Socket.IO socket whose groups were all subscribed before that moment gets every event with an id
above the batch's watermark live, so it needs no catch-up read at all (realtime.socketio.hub).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from outbox.replay import kept_ids, watermark

from .batching import ReadBatcher, per_loop
from .fanout import RECHECK_FIELDS

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
        """Whether every row with id > `after` is still kept: the row `after` itself is within
        OUTBOX_RETENTION (outbox.replay.kept_ids, read in this batch); `after` 0 (the outbox was
        empty) counts when the session was issued (`issued_at`, epoch seconds) within the window."""
        if after == 0:
            return issued_at is not None and issued_at >= self.since
        return after in self.kept


def read_batch(user_ids: Iterable[int], afters: Iterable[int], *,
               with_watermark: bool = True) -> tuple[dict[int, object], int, frozenset[int], float]:
    """The database part of a batch (sync): (users, watermark, kept ids, since); the watermark is
    0 without `with_watermark` (no handshake of the batch needs it: `/ws/events/` never does, and
    then its handshakes do not wait on the outbox table). The users carry only the fields an
    access decision reads (realtime.fanout.RECHECK_FIELDS): a storm reads thousands of rows in a
    thread that holds the event loop back while it builds them."""
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=list(user_ids), is_active=True)
             .only(*RECHECK_FIELDS)}
    mark = watermark() if with_watermark else 0
    kept, since = kept_ids(list(afters))
    return users, mark, kept, since


def read_handshakes(requests: list[tuple[int, int | None, bool]]) -> list[tuple]:
    """The batcher's read: one shared (users, watermark, kept, since) for every (user id, after,
    whether the watermark is needed)."""
    shared = read_batch(sorted({user_id for user_id, _, _ in requests}), [a for _, a, _ in requests if a is not None],
                        with_watermark=any(needs for _, _, needs in requests))
    return [shared] * len(requests)


def _batcher() -> ReadBatcher:
    return ReadBatcher(read_handshakes, max_batch=BATCH_MAX)


async def handshake_read(user_id: int, *, after: int | None = None, watermark: bool = True) -> Batch:
    """The batch that read `user_id` (and checked `after`, an outbox id, when given); with
    `watermark=False` the caller does not use `Batch.watermark` (it is 0 unless another handshake
    of the batch needed it).

    Raises whatever the database call raised (every handshake of that batch gets the error)."""
    (users, mark, kept, since), started = await per_loop(_batcher).ask((user_id, after, watermark))
    return Batch(users=users, watermark=mark, kept=kept, since=since, started_ns=started)
