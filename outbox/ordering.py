"""Per-group id order: a row never overtakes an earlier pending row of its group.

A *blocker* of a group is a pending row, not in the caller's set, that must go out before the
caller's rows of that group: one that is marked (`last_error` set: it failed, or it is itself
waiting behind another), or one that is due but was not claimed by this pass (so another relay
holds it). Rows written a moment ago whose after-commit send is still in flight are neither:
transactions commit out of id order anyway, so no sender can promise order between them.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple


from .models import EventOutbox, OutboxStatus

WAITING = "waiting for an earlier event of its group (id order)"


class Blocker(NamedTuple):
    id: int
    next_attempt_at: datetime


def find_blockers(*, upto_id: int, mine: set[int], now, groups: Iterable[str] | None = None,
                  due_from_id: int = 0, suspects: Iterable[int] = ()) -> dict[str, Blocker]:
    """{group: earliest blocker} among pending rows with id <= `upto_id` not in `mine`.

    Marked rows are found wherever they are (partial index outbox_pending_marked_idx: few).
    Due unmarked rows are looked for from `due_from_id` up, plus the ids in `suspects`: a relay
    run moves a cursor up through the table and passes the due rows it saw locked earlier as
    suspects, so it never rescans the index entries its own earlier passes left dead (which made
    each pass slower than the last).
    """
    marked = EventOutbox.objects.filter(status=OutboxStatus.PENDING, id__lte=upto_id).exclude(last_error="")
    due = EventOutbox.objects.filter(status=OutboxStatus.PENDING, id__lte=upto_id, id__gte=due_from_id,
                                     next_attempt_at__lte=now)
    queries = [marked, due]
    suspects = [i for i in suspects if i not in mine]
    if suspects:
        queries.append(EventOutbox.objects.filter(status=OutboxStatus.PENDING, id__in=suspects,
                                                  next_attempt_at__lte=now))
    found: list[tuple[str, int, datetime]] = []
    for qs in queries:
        if groups is not None:
            qs = qs.filter(group__in=set(groups))
        found += qs.values_list("group", "id", "next_attempt_at")
    blockers: dict[str, Blocker] = {}
    for group, row_id, next_at in sorted(found, key=lambda f: f[1]):
        if row_id not in mine and group not in blockers:
            blockers[group] = Blocker(row_id, next_at)
    return blockers


def split_ready(rows: list, blockers: dict[str, Blocker]) -> tuple[list, dict[int, Blocker]]:
    """(rows that may go now, {held row id: its blocker}); `rows` sorted by id."""
    ready, held = [], {}
    for row in rows:
        blocker = blockers.get(row.group)
        if blocker is not None and blocker.id < row.id:
            held[row.id] = blocker
        else:
            ready.append(row)
    return ready, held


def hold(held: dict[int, Blocker], now, ids_qs) -> None:
    """Mark held rows (so later rows of their group wait too) and make them due with their
    blocker: at once when the blocker is due (another relay has it: the next pass sends both in
    order), else when the blocker's retry is due. One UPDATE per distinct due time."""
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for row_id, blocker in held.items():
        by_time[max(blocker.next_attempt_at, now)].append(row_id)
    for due, ids in by_time.items():
        ids_qs(ids).filter(status=OutboxStatus.PENDING).update(next_attempt_at=due, last_error=WAITING)
