"""Reads for resume: the outbox rows a socket missed (docs/realtime.md)."""
from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.utils import timezone

from .frames import event_text
from .models import EventOutbox


def group_rows_after(*, groups: Sequence[str], after: int, limit: int) -> list[tuple[int, str, str]]:
    """[(id, group, frame text)] of rows for `groups` with id > `after`, in id order, at most `limit`.

    Every status counts (pending and failed rows are events the socket has not had either);
    only rows within OUTBOX_RETENTION are replayed (older sent rows may already be purged).
    """
    since = timezone.now() - settings.OUTBOX_RETENTION
    rows = (EventOutbox.objects.filter(group__in=list(groups), id__gt=after, created_at__gte=since)
            .order_by("id")[:limit])
    return [(row.id, row.group, event_text(row)) for row in rows]


def rows_after(*, groups: Sequence[str], after: int, limit: int) -> list[tuple[int, str]]:
    """[(id, frame text)]: `group_rows_after` without the group (one socket's replay)."""
    return [(row_id, text) for row_id, _group, text in group_rows_after(groups=groups, after=after, limit=limit)]


def watermark() -> int:
    """The largest outbox id now (0 when empty): every later event has a larger id."""
    return EventOutbox.objects.order_by("-id").values_list("id", flat=True).first() or 0
