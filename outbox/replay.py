"""Reads for resume: the outbox rows a socket missed (docs/realtime.md)."""
from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from itertools import islice

from django.conf import settings
from django.utils import timezone

from .frames import event_text
from .models import EventOutbox


def retained_since():
    """The oldest moment (aware, UTC) whose rows are surely still kept: now - OUTBOX_RETENTION
    (rows are purged by age, oldest first)."""
    return timezone.now() - settings.OUTBOX_RETENTION


def kept_ids(ids: Sequence[int]) -> tuple[frozenset[int], float]:
    """(those of `ids` whose row is still within OUTBOX_RETENTION, the window's start in epoch
    seconds): a client may resume after such a row and miss nothing (docs/realtime.md)."""
    since = retained_since()
    wanted = [i for i in set(ids) if i > 0]
    kept = frozenset(EventOutbox.objects.filter(id__in=wanted, created_at__gte=since).values_list("id", flat=True)
                     ) if wanted else frozenset()
    return kept, since.timestamp()


def group_rows_after(*, groups: Sequence[str], after: int, limit: int) -> list[tuple[int, str, str]]:
    """[(id, group, frame text)] of rows for `groups` with id > `after`, in id order, at most `limit`.

    Every status counts (pending and failed rows are events the socket has not had either);
    only rows within OUTBOX_RETENTION are replayed (older sent rows may already be purged).
    """
    since = retained_since()
    rows = (EventOutbox.objects.filter(group__in=list(groups), id__gt=after, created_at__gte=since)
            .order_by("id")[:limit])
    return [(row.id, row.group, event_text(row)) for row in rows]


def group_rows_after_many(requests: Sequence[tuple[Sequence[str], int, int]], *,
                          cap: int = 20_000) -> list[list[tuple[int, str, str]]]:
    """`group_rows_after` for many sockets at once: for each (groups, after, limit) request, exactly
    the list `group_rows_after(groups=, after=, limit=)` returns, in request order.

    One query reads the rows of every requested group after the smallest `after` (at most `cap`);
    each socket's rows are cut from it (per group, from its own `after`, merged in id order). When
    that read stopped at `cap` and a socket got fewer than its `limit` rows from it, the rest of
    its rows lie beyond: that socket alone is read with its own query. A request more than `cap`
    ids behind the newest request is read on its own from the start. A reconnect storm (every
    client resuming a few seconds back) is one query instead of one per socket
    (docs/realtime.md, "Connect path")."""
    if not requests:
        return []
    # A request far behind the newest (a client back after a long absence, or one asking for
    # everything) would drag the shared read's start back to itself and push every other socket
    # past the cap onto a query of its own: it is read alone instead.
    top = max(after for _, after, _ in requests)
    near = [r for r in requests if r[1] >= top - cap]
    union = sorted({group for groups, _, _ in near for group in groups})
    shared = group_rows_after(groups=union, after=min(after for _, after, _ in near), limit=cap)
    truncated = len(shared) >= cap
    by_group: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for row in shared:
        by_group[row[1]].append(row)
    ids = {group: [row[0] for row in rows] for group, rows in by_group.items()}
    answers = []
    for groups, after, limit in requests:
        mine = None
        if after >= top - cap:  # a near request: cut from the shared read
            parts = [by_group[g][bisect_right(ids[g], after):] for g in set(groups) if g in by_group]
            mine = list(islice(heapq.merge(*parts), limit))  # ids are unique: tuples order by id
        if mine is None or (truncated and len(mine) < limit):
            mine = group_rows_after(groups=groups, after=after, limit=limit)
        answers.append(mine)
    return answers


def watermark() -> int:
    """The largest outbox id now (0 when empty): every later event has a larger id."""
    return EventOutbox.objects.order_by("-id").values_list("id", flat=True).first() or 0
