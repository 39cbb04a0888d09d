"""Publishing events through the transactional outbox (DESIGN.md Events; Sentry's outbox pattern).

`publish()` is called by a service inside its transaction. The rows commit or roll back with the
change; after commit they are handed to the channel layer at once (`send_rows`) and marked sent.
A row that could not be sent stays pending with its error, for the relay to retry; its first
retry is not due before OUTBOX_FIRST_RETRY_SECONDS so the relay never races the after-commit send.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.context import current

from .frames import layer_message
from .models import EventOutbox, OutboxStatus

log = logging.getLogger(__name__)

GROUP_ADMIN = "admin"
GROUP_PUBLIC = "public"


def user_group(user_id: int) -> str:
    """The realtime group of one user's sockets."""
    return f"user.{user_id}"


def publish(*, channel: str, groups: Iterable[str], data: dict) -> list[EventOutbox]:
    """Write one outbox row per group for `channel` with `data`; send them after commit.

    `data` must be JSON-serializable with DjangoJSONEncoder (Decimal -> "500.00" string,
    datetime -> ISO 8601). Call inside the transaction of the change; outside one (autocommit)
    the rows are sent at once. Returns the rows (with ids).
    """
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    now = timezone.now()
    first_retry = now + timedelta(seconds=getattr(settings, "OUTBOX_FIRST_RETRY_SECONDS", 10))
    request_id = current().request_id
    rows = EventOutbox.objects.bulk_create(
        [
            EventOutbox(channel=channel, group=group, payload=data, request_id=request_id,
                        next_attempt_at=first_retry, created_at=now)
            for group in dict.fromkeys(groups)
        ]
    )
    transaction.on_commit(lambda: send_rows(rows))
    return rows


async def _group_send_all(rows: list[EventOutbox]) -> None:
    layer = get_channel_layer()
    for row in rows:
        await layer.group_send(row.group, layer_message(row))


def send_rows(rows: list[EventOutbox]) -> int:
    """Send committed pending rows to the channel layer in id order and mark them sent.

    Returns how many were marked sent. On a layer error (e.g. Redis down) nothing is marked:
    the rows stay pending with `last_error` set, for the relay. Never raises: the caller's
    change has already committed and must not be reported as failed.
    """
    rows = sorted(rows, key=lambda r: r.id)
    ids = [r.id for r in rows]
    try:
        async_to_sync(_group_send_all)(rows)
    except Exception as exc:  # transport failure: the relay retries
        log.warning("outbox send failed for %d rows, left pending: %s", len(ids), exc)
        EventOutbox.objects.filter(id__in=ids, status=OutboxStatus.PENDING).update(
            last_error=f"{type(exc).__name__}: {exc}"[:1000]
        )
        return 0
    return EventOutbox.objects.filter(id__in=ids, status=OutboxStatus.PENDING).update(
        status=OutboxStatus.SENT, sent_at=timezone.now(), last_error=""
    )


def publish_many(*, events: Iterable[tuple[str, Iterable[str], dict]], batch_size: int = 1000) -> list[EventOutbox]:
    """Write the outbox rows of many events at once; send them after commit, in one go.

    `events` is an iterable of `(channel, groups, data)` with the same meaning as `publish()`'s
    arguments; the rows are inserted with bulk INSERTs of `batch_size` rows and handed to
    `send_rows` by a single on-commit callback, so a job that publishes thousands of events
    makes a few round trips instead of one per event. Returns the rows (with ids), in order.
    """
    now = timezone.now()
    first_retry = now + timedelta(seconds=getattr(settings, "OUTBOX_FIRST_RETRY_SECONDS", 10))
    request_id = current().request_id
    pending = []
    for channel, groups, data in events:
        payload = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
        pending.extend(EventOutbox(channel=channel, group=group, payload=payload, request_id=request_id,
                                   next_attempt_at=first_retry, created_at=now) for group in dict.fromkeys(groups))
    if not pending:
        return []
    rows = EventOutbox.objects.bulk_create(pending, batch_size=batch_size)
    transaction.on_commit(lambda: send_rows(rows))
    return rows
