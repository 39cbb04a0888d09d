"""Recording notifications in the caller's transaction (docs/notifications.md, "Recording").

A service calls `notification_record` (one event) or `notifications_record` (many, e.g. the expiry
job's batches) inside its transaction. That writes one Notification row per channel the user can
receive (dedupe key `<event key>:<channel>`, unique: an event recorded twice is one row), one
`notifications.new` event per event (outbox), and one follow-up per new row that runs the send task
after commit (outbox.followups). A rollback leaves no row, no event and no task; nothing leaves the
transaction before commit. Sending is notifications.sending; rows whose send never ran are found
by notifications.sweeping.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from outbox.followups import followups_enqueue
from outbox.services import publish_many, user_group

from .catalog import TEMPLATES
from .models import Notification, NotificationStatus
from .selectors import channels_for_users

log = logging.getLogger("dgt.notifications")

NOTIFICATIONS_NEW = "notifications.new"
# The registered name of notifications.tasks.notification_send_run (by name: the tasks module
# imports this one, and outbox.followups dispatches follow-ups by name).
SEND_TASK = "notifications.tasks.notification_send_run"
_CHUNK = 1000
_COLUMNS = ("user", "template_key", "channel", "payload", "status", "dedupe_key", "error", "attempts", "created_at")


@dataclass(frozen=True)
class NotificationRequest:
    """One event for one user: `payload` is the template context (Decimal and datetime values
    are stored as JSON strings), `dedupe_key` identifies the event (the channel is appended per row)."""

    user_id: int
    template_key: str
    payload: dict
    dedupe_key: str


def notification_record(*, user_id: int, template_key: str, payload: dict, dedupe_key: str,
                        channels: list[str] | None = None) -> list[int]:
    """`notifications_record` for one event. Returns the ids of the rows created now ([] when the
    key was recorded before or the user can receive nothing). `channels`: the user's channels when
    the caller has read them in a statement of its own (notifications.selectors.channels_sql)."""
    return notifications_record(requests=[NotificationRequest(user_id, template_key, payload, dedupe_key)],
                                channels=None if channels is None else {user_id: channels})


def notifications_record(*, requests: Sequence[NotificationRequest],
                         channels: dict[int, list[str]] | None = None) -> list[int]:
    """Record the notifications of `requests` in the current transaction and schedule their sends
    for after its commit. Without a transaction the rows commit on their own and the sends are
    dispatched at once.

    Per request: one `queued` row per channel the user can receive and has not opted out of
    (push, sms, email; notifications.selectors.channels_for_users), one `notifications.new` event
    to `user.<id>` naming the rows; per new row one follow-up running the send task after commit.
    A dedupe key recorded before (or by a concurrent transaction) is skipped: no row, no event, no
    send. A template key without text in notifications.catalog is logged and sent with the generic
    text. Returns the ids of the rows created now, ascending.

    Statements, whatever the number of requests: one SELECT of channels (none when `channels`, the
    channels of every requested user by id, is given), one INSERT per 1,000 rows, then, when rows
    are new, one outbox INSERT and the follow-ups' INSERT.
    """
    for template_key in sorted({r.template_key for r in requests} - set(TEMPLATES)):
        log.warning("notification template %r has no text in notifications.catalog; the generic text is sent",
                    template_key)
    if channels is None:
        channels = channels_for_users(user_ids=[r.user_id for r in requests])
    now = timezone.now()
    candidates: dict[str, dict] = {}
    for r in requests:
        payload = json.loads(json.dumps(r.payload, cls=DjangoJSONEncoder))
        for channel in channels.get(r.user_id, []):
            key = f"{r.dedupe_key}:{channel}"
            candidates.setdefault(key, {
                "user_id": r.user_id, "template_key": r.template_key, "channel": channel, "payload": payload,
                "status": NotificationStatus.QUEUED.value, "dedupe_key": key, "error": "", "attempts": 0,
                "created_at": now, "event_key": r.dedupe_key})
    if not candidates:
        return []
    # savepoint=False: inside the caller's transaction this adds no statement; a failure here
    # fails the caller's transaction as a whole (nothing half-recorded).
    with transaction.atomic(savepoint=False):
        inserted = _insert_ignoring_duplicates(list(candidates.values()))
        _publish_new(candidates, inserted)
    ids = sorted(inserted.values())
    # After the block, in the caller's transaction: its follow-ups then share one after-commit
    # message (outbox.followups batches per open block). Called without a transaction, the rows
    # have committed here and the sends go out at once.
    notifications_send_after_commit(notification_ids=ids)
    return ids


def notifications_send_after_commit(*, notification_ids: Sequence[int]) -> None:
    """Schedule one run of the send task per id for after the current transaction commits: one
    follow-up each (outbox.followups), dispatched again by the relay if the broker was down or the
    message was lost, so a send is never lost to an outage (docs/operations.md)."""
    if notification_ids:
        followups_enqueue(items=[(SEND_TASK, {"notification_id": pk}) for pk in notification_ids])


def _insert_ignoring_duplicates(rows: list[dict]) -> dict[str, int]:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id (PostgreSQL, SQLite >= 3.35):
    one statement per chunk, never an IntegrityError in the caller's transaction (no savepoint
    needed). Django's bulk_create(ignore_conflicts=True) cannot return the ids. Returns
    {dedupe_key: id} of the rows inserted now."""
    fields = [Notification._meta.get_field(name) for name in _COLUMNS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    inserted: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            params = [f.get_db_prep_save(row[f.attname], connection) for row in chunk for f in fields]
            cursor.execute(
                f"INSERT INTO {quote(Notification._meta.db_table)} ({columns}) VALUES "
                f"{', '.join([placeholder] * len(chunk))} ON CONFLICT ({quote('dedupe_key')}) DO NOTHING "
                f"RETURNING {quote('id')}, {quote('dedupe_key')}", params)
            inserted.update((key, pk) for pk, key in cursor.fetchall())
    return inserted


def _publish_new(candidates: dict[str, dict], inserted: dict[str, int]) -> None:
    """One `notifications.new` per event with new rows (not per channel: the app shows one item;
    `channels` says where it is also sent), its rows in id order."""
    created: dict[str, list[dict]] = {}
    for key, row in candidates.items():
        if key in inserted:
            created.setdefault(row["event_key"], []).append({**row, "id": inserted[key]})
    for group in created.values():
        group.sort(key=lambda row: row["id"])
    publish_many(events=(
        (NOTIFICATIONS_NEW, [user_group(group[0]["user_id"])],
         {"id": group[0]["id"], "ids": [r["id"] for r in group], "templateKey": group[0]["template_key"],
          "channels": [r["channel"] for r in group], "data": group[0]["payload"],
          "createdAt": group[0]["created_at"]})
        for group in created.values()
    ))
