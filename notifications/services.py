"""Notification writes: record in the caller's transaction (outbox), send after commit, once.

Flow: a service calls `notification_enqueue` (or `notifications_enqueue_many`) inside its
transaction; that records one Notification per channel the user can receive (`<dedupe
key>:<channel>`, unique) and its `notifications.new` event in the same transaction, and records
one follow-up task per row (outbox.followups) that sends it after commit. The rows are the outbox: a lost task message leaves a
`queued` row that `notifications_sweep` (job `notifications_sweep`) queues again. A send claims
its row (queued -> sending, guarded UPDATE) before it waits for the global rate limit and calls
the provider, so a task delivered twice (or swept while its message still arrives) sends once.
Transient provider errors put the row back to queued and the task retries with backoff;
permanent ones mark it failed and deactivate the device token or phone number that caused them.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import audit_record
from core.errors import NotFound
from outbox.alerts import admin_alert
from outbox.followups import followup_enqueue, followups_enqueue
from outbox.services import publish_many, user_group

from .catalog import TEMPLATES, render
from .models import Device, Notification, NotificationChannel, NotificationPreference, NotificationStatus
from .providers import PermanentProviderError, TransientProviderError, get_provider
from .ratelimit import get_limiter
from .selectors import channels_for_users, device_tokens_active, notification_ids_stuck_sending

log = logging.getLogger("dgt.notifications")

NOTIFICATIONS_NEW = "notifications.new"
SEND_TASK = "notifications.tasks.notification_send_run"
SEND_MANY_TASK = "notifications.tasks.notifications_send_many"
_CHUNK = 1000


@dataclass(frozen=True)
class NotificationRequest:
    """One event for one user: `payload` is the template context (JSON-safe after enqueue),
    `dedupe_key` identifies the event (the channel is appended per row)."""

    user_id: int
    template_key: str
    payload: dict
    dedupe_key: str

    def as_task_item(self) -> dict:
        return {"user_id": self.user_id, "template_key": self.template_key, "dedupe_key": self.dedupe_key,
                "payload": json.loads(json.dumps(self.payload, cls=DjangoJSONEncoder))}


def _check_template(template_key: str) -> None:
    if template_key not in TEMPLATES:
        log.warning("notification template %r has no text in notifications.catalog; the generic text is sent",
                    template_key)


def notification_enqueue(*, user_id: int, template_key: str, payload: dict, dedupe_key: str) -> list[int]:
    """Record the notification of one event inside the caller's transaction (one Notification
    row per channel the user can receive, `<dedupe_key>:<channel>`, and one `notifications.new`
    event) and queue one send task per new row after commit. A rollback leaves nothing; a lost
    task message leaves a queued row that `notifications_sweep` sends later. Returns the new
    row ids ([] when the key was recorded before or the user can receive nothing).

    `payload` is the template context (Decimal/datetime allowed: stored as JSON strings). A
    template key without text in notifications.catalog is logged and sent with the generic text.
    Three statements (channels, notification INSERT, outbox INSERT); none without a channel.
    """
    _check_template(template_key)
    ids = notifications_record(requests=[NotificationRequest(user_id, template_key, payload, dedupe_key)])
    _send_after_commit(ids)
    return ids


def notifications_enqueue_many(*, requests: Sequence[NotificationRequest]) -> list[int]:
    """Like `notification_enqueue` for many events (the expiry job's batches of hundreds): the
    rows and events are written set-based (a constant number of statements per 1,000 rows) and
    ONE task message carries the new ids after commit; the worker fans it out into send tasks."""
    if not requests:
        return []
    for request in requests:
        _check_template(request.template_key)
    ids = notifications_record(requests=requests)
    if ids:
        followup_enqueue(task=SEND_MANY_TASK, kwargs={"notification_ids": ids})
    return ids


def _send_after_commit(ids: Sequence[int]) -> None:
    """One follow-up per row (outbox.followups): sent after commit, dispatched again by the relay
    if the broker was down, so a send is never lost to an outage (docs/notifications.md)."""
    if ids:
        followups_enqueue(items=[(SEND_TASK, {"notification_id": pk}) for pk in ids])


def _insert_ignoring_duplicates(rows: list[dict]) -> dict[str, int]:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id (PostgreSQL, SQLite >= 3.35):
    one statement per chunk, never an IntegrityError in the caller's transaction (no savepoint
    needed). Django's bulk_create(ignore_conflicts=True) cannot return the ids. Returns
    {dedupe_key: id} of the rows inserted now."""
    fields = [Notification._meta.get_field(name) for name in
              ("user", "template_key", "channel", "payload", "status", "dedupe_key", "error", "attempts", "created_at")]
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


def notifications_record(*, requests: Sequence[NotificationRequest]) -> list[int]:
    """Create the Notification rows of `requests`, one per channel each user can receive, and
    publish one `notifications.new` per notification created, in the current transaction (or
    one of its own).

    Idempotent: a dedupe key recorded before (or by a concurrent transaction) is skipped, with
    no event. Returns the ids of the rows created now, all `queued`. Statements: one SELECT of
    channels, one INSERT per 1,000 rows, one outbox INSERT — whatever the number of users.
    """
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
        # One `notifications.new` per notification (not per delivery channel): the app shows one
        # item; `channels` says where it is also delivered.
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
    return sorted(inserted.values())


def notifications_deliver(*, requests: Sequence[NotificationRequest]) -> list[int]:
    """Record `requests` (see `notifications_record`) and, after commit, queue one send task per
    new row. Used by the pre-outbox `notification_deliver(_many)` tasks still in a broker at
    deploy time. Returns the ids queued for sending."""
    ids = notifications_record(requests=requests)
    _send_after_commit(ids)
    return ids


def notifications_sweep(*, now=None, limit: int | None = None) -> dict:
    """Queue again the sends whose task message was lost (outbox sweeper, job `notifications_sweep`).

    Picks `queued` rows older than NOTIFICATION_SWEEP_AFTER_SECONDS that were never claimed, or
    that went back to queued after a transient error more than NOTIFICATION_RETRY_MAX_SECONDS +
    NOTIFICATION_SWEEP_AFTER_SECONDS ago (their retry message should have run by then), oldest
    first, at most `limit` (NOTIFICATION_SWEEP_LIMIT). Each gets a send task that continues its
    retry count: a row back in queued after `attempts` tries lost the message of retry number
    `attempts`, so NOTIFICATION_MAX_RETRIES still bounds the tries. Safe to run twice at once or
    while the original message is still on its way: the send claim (queued -> sending) lets one
    task send, the others no-op.

    `sending` rows are NOT requeued: their worker claimed them and may have reached the provider
    before dying, so a resend could duplicate the message (sends are at most once). Rows in
    `sending` longer than NOTIFICATION_STALE_SENDING_SECONDS are counted, logged and named in an
    `admin.alert` once (`notifications_stuck_alert`) for an admin to retry (`notifications_retry`).
    Returns {"requeued", "staleSending"}.
    """
    from .tasks import notification_send_run

    now = now or timezone.now()
    limit = limit or settings.NOTIFICATION_SWEEP_LIMIT
    after = timedelta(seconds=settings.NOTIFICATION_SWEEP_AFTER_SECONDS)
    retry_after = after + timedelta(seconds=settings.NOTIFICATION_RETRY_MAX_SECONDS)
    rows = list(Notification.objects.filter(status=NotificationStatus.QUEUED, created_at__lt=now - after)
                .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - retry_after))
                .order_by("created_at", "id").values_list("id", "attempts")[:limit])
    for pk, attempts in rows:
        notification_send_run.apply_async(kwargs={"notification_id": pk}, retries=attempts)
    stale = notifications_stuck_alert(now=now)
    if rows or stale:
        log.warning("notifications sweep: requeued %d queued notification(s); %d stuck in sending "
                    "(not resent automatically: an admin may retry them)", len(rows), stale)
    return {"requeued": len(rows), "staleSending": stale}


def notifications_stuck_alert(*, now=None) -> int:
    """Raise one `admin.alert` (kind `notifications.stuck_sending`) naming the rows in `sending`
    for longer than NOTIFICATION_STALE_SENDING_SECONDS that no alert named yet (their worker died
    between the claim and the provider's answer; an admin decides whether to resend them with
    `notifications_retry`, the admin action or POST /api/admin/notifications/retry). Returns how
    many rows are stuck in all."""
    stuck = notification_ids_stuck_sending(now=now)
    new = [pk for pk in stuck if _first_alert(pk)]
    if new:
        with transaction.atomic():
            admin_alert(kind="notifications.stuck_sending",
                        message=f"{len(new)} notification(s) stuck in sending (worker lost mid-send); "
                                "retry them if a duplicate is acceptable",
                        data={"notificationIds": new[:50], "count": len(new)})
    return len(stuck)


def stuck_alert_key(notification_id: int) -> str:
    """The cache key marking that a stuck notification was already named in an alert."""
    return f"dgt:notifications:stuck-alerted:{notification_id}"


def _first_alert(notification_id: int) -> bool:
    try:
        return cache.add(stuck_alert_key(notification_id), 1, timeout=7 * 24 * 3600)
    except Exception:  # cache down: alerting twice beats not alerting
        return True


def _claim(notification_id: int) -> bool:
    """queued -> sending, counted; False when another delivery has it or it is done."""
    return bool(Notification.objects.filter(pk=notification_id, status=NotificationStatus.QUEUED).update(
        status=NotificationStatus.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now()))


def _finish(notification_id: int, status: str, error: str = "") -> None:
    changes = {"status": status, "error": error[:2000]}
    if status == NotificationStatus.SENT:
        changes["sent_at"] = timezone.now()
    Notification.objects.filter(pk=notification_id, status=NotificationStatus.SENDING).update(**changes)


def _push_data(notification: Notification) -> dict[str, str]:
    data = {"notificationId": str(notification.pk), "templateKey": notification.template_key}
    for key, value in notification.payload.items():
        if isinstance(value, (str, int, float, bool)):  # FCM data values are strings
            data.setdefault(key, str(value))
    return data


def _deliver(notification: Notification) -> str:
    """Call the channel's provider. Returns "" on success or the error text of a failure that
    is permanent; raises TransientProviderError to retry."""
    message = render(template_key=notification.template_key, channel=notification.channel,
                     payload=notification.payload)
    provider = get_provider(notification.channel)
    limiter = get_limiter()
    if notification.channel == NotificationChannel.PUSH:
        tokens = device_tokens_active(user_id=notification.user_id)[: limiter.limit]
        if not tokens:
            return "no active device"
        limiter.acquire(len(tokens))
        result = provider.send(tokens=tokens, title=message.title, body=message.body, data=_push_data(notification))
        if result.invalid:
            devices_deactivate(tokens=list(result.invalid), reason="; ".join(sorted(set(result.invalid.values()))))
        if result.sent:
            return ""  # delivered to at least one device; retrying would repeat it on those
        if result.transient:
            raise TransientProviderError("; ".join(result.transient.values()))
        return "every device token is invalid: " + "; ".join(result.invalid.values())
    if notification.channel == NotificationChannel.SMS:
        pref = NotificationPreference.objects.filter(user_id=notification.user_id).first()
        if pref is None or not (pref.phone and pref.phone_active and pref.sms_enabled):
            return "no active phone number or SMS opted out"
        limiter.acquire(1)
        try:
            provider.send(to=pref.phone, body=message.body)
        except PermanentProviderError as exc:
            if exc.recipient_invalid:
                NotificationPreference.objects.filter(pk=pref.pk, phone=pref.phone).update(phone_active=False)
            raise
        return ""
    email = notification.user.email
    if not email:
        return "no email address"
    limiter.acquire(1)
    provider.send(to=email, subject=message.title, body=message.body)
    return ""


def notification_send(*, notification_id: int, last_try: bool = False) -> str:
    """Send one notification once. Returns its status after this call: "sent", "failed", or the
    current status when another delivery holds or finished it (then nothing is sent).

    Raises TransientProviderError after putting the row back to queued, for the task to retry;
    on the `last_try` a transient error marks it failed instead ("gave up after N attempts").
    Permanent errors mark it failed (and deactivate the bad token or number). Waits for the
    global rate limit between the claim and the provider call.
    """
    if not _claim(notification_id):
        return Notification.objects.filter(pk=notification_id).values_list("status", flat=True).first() or "missing"
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    try:
        error = _deliver(notification)
    except TransientProviderError as exc:
        if last_try:
            _finish(notification_id, NotificationStatus.FAILED,
                    f"gave up after {notification.attempts} attempts: {exc}")
            return NotificationStatus.FAILED.value
        Notification.objects.filter(pk=notification_id, status=NotificationStatus.SENDING).update(
            status=NotificationStatus.QUEUED, error=str(exc)[:2000])
        raise
    except PermanentProviderError as exc:
        error = str(exc) or type(exc).__name__
    except Exception as exc:
        # A bug, not the provider: record it as failed rather than leave the row in sending.
        # Not back to queued — the provider may already have accepted the message.
        _finish(notification_id, NotificationStatus.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    status = NotificationStatus.FAILED if error else NotificationStatus.SENT
    _finish(notification_id, status, error)
    return status.value


def devices_deactivate(*, tokens: Sequence[str], reason: str) -> int:
    """Deactivate the devices with `tokens` (FCM said they are unregistered or invalid)."""
    return Device.objects.filter(token__in=list(tokens), active=True).update(
        active=False, deactivated_at=timezone.now(), deactivation_reason=reason[:200])


@transaction.atomic
def device_register(*, user, token: str, platform: str) -> Device:
    """Register (or re-register) an FCM token for `user`: a token seen before moves to this user
    and becomes active again (the app re-registers after sign-in on a shared device)."""
    device, _ = Device.objects.update_or_create(
        token=token, defaults={"user": user, "platform": platform, "active": True, "deactivated_at": None,
                               "deactivation_reason": ""})
    return device


@transaction.atomic
def device_unregister(*, user, device_id: int) -> None:
    """Deactivate one of the user's devices (sign-out). Raises NotFound for another user's
    device or one already inactive."""
    updated = Device.objects.filter(pk=device_id, user=user, active=True).update(
        active=False, deactivated_at=timezone.now(), deactivation_reason="unregistered by the user")
    if not updated:
        raise NotFound("Device not found.")


PREFERENCE_FIELDS = ("phone", "push_enabled", "sms_enabled", "email_enabled")


@transaction.atomic
def preference_update(*, user, changes: dict) -> NotificationPreference:
    """Set the user's phone (E.164, validated by the serializer; "" removes it) and channel
    opt-ins (`push_enabled`, `sms_enabled`, `email_enabled`). A new phone number is active again."""
    pref, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
    fields = [f for f in PREFERENCE_FIELDS if f in changes]
    if "phone" in changes and changes["phone"] != pref.phone:
        pref.phone_active = True
        fields.append("phone_active")
    for field in PREFERENCE_FIELDS:
        if field in changes:
            setattr(pref, field, changes[field])
    pref.save(update_fields=[*fields, "updated_at"])
    return pref


@transaction.atomic
def notifications_retry(*, notification_ids: Sequence[int], actor) -> list[int]:
    """Put notifications back to queued and send them again after commit (an admin's retry,
    e.g. after fixing provider credentials): failed ones, and ones stuck in `sending` for longer
    than NOTIFICATION_STALE_SENDING_SECONDS (their worker died between the claim and the
    provider's answer — the admin accepts that the user may get it twice). Writes one audit row
    per notification. Returns the ids requeued; the others are left alone."""
    stale = timezone.now() - timedelta(seconds=settings.NOTIFICATION_STALE_SENDING_SECONDS)
    retryable = Q(status=NotificationStatus.FAILED) | Q(status=NotificationStatus.SENDING, claimed_at__lt=stale)
    rows = list(Notification.objects.select_for_update().filter(retryable, pk__in=list(notification_ids))
                .order_by("id").values_list("id", "status"))
    ids = [pk for pk, _ in rows]
    Notification.objects.filter(pk__in=ids).update(status=NotificationStatus.QUEUED, error="")
    for pk, status in rows:
        audit_record(action="notification.retry", entity_type="notification", entity_id=pk, user=actor,
                     metadata={"previousStatus": status})
    _send_after_commit(ids)
    return ids
