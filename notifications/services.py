"""Notification writes: enqueue after commit, record once per channel, send once.

Flow: a service calls `notification_enqueue` (or `notifications_enqueue_many`) inside its
transaction; after commit one `notifications` task records one Notification per channel the
user can receive (`<dedupe key>:<channel>`, unique) and queues one send task per row. A send
claims its row (queued -> sending, guarded UPDATE) before it waits for the global rate limit
and calls the provider, so a task delivered twice sends once. Transient provider errors put
the row back to queued and the task retries with backoff; permanent ones mark it failed and
deactivate the device token or phone number that caused them.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import audit_record
from dgt.errors import NotFound
from outbox.services import publish_many, user_group

from .catalog import TEMPLATES, render
from .models import Device, Notification, NotificationChannel, NotificationPreference, NotificationStatus
from .providers import PermanentProviderError, TransientProviderError, get_provider
from .ratelimit import get_limiter
from .selectors import channels_for_users, device_tokens_active

log = logging.getLogger("dgt.notifications")

NOTIFICATIONS_NEW = "notifications.new"
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


def notification_enqueue(*, user_id: int, template_key: str, payload: dict, dedupe_key: str) -> None:
    """Queue `template_key` for `user_id` once the caller's transaction commits (nothing is
    queued if it rolls back). `dedupe_key` makes the delivery idempotent. A template key
    without text in notifications.catalog is logged and sent with the generic text."""
    from .tasks import notification_deliver

    _check_template(template_key)
    item = NotificationRequest(user_id, template_key, payload, dedupe_key).as_task_item()
    transaction.on_commit(lambda: notification_deliver.delay(**item))


def notifications_enqueue_many(*, requests: Sequence[NotificationRequest]) -> None:
    """Like `notification_enqueue` for many events: one task message per call, whatever the
    number of requests (the expiry job sends a batch of hundreds at once)."""
    from .tasks import notification_deliver_many

    if not requests:
        return
    for request in requests:
        _check_template(request.template_key)
    items = [request.as_task_item() for request in requests]
    transaction.on_commit(lambda: notification_deliver_many.delay(items=items))


def notifications_record(*, requests: Sequence[NotificationRequest]) -> list[int]:
    """Create the Notification rows of `requests`, one per channel each user can receive, and
    publish `notifications.new` for the rows created, in one transaction.

    Idempotent: rows whose dedupe key exists are not created again. Returns the ids of the
    rows of these requests that are still queued (to be sent). A constant number of queries per
    1,000 rows.
    """
    channels = channels_for_users(user_ids=[r.user_id for r in requests])
    candidates = {
        f"{r.dedupe_key}:{channel}": Notification(user_id=r.user_id, template_key=r.template_key, channel=channel,
                                                  payload=r.payload, dedupe_key=f"{r.dedupe_key}:{channel}")
        for r in requests for channel in channels.get(r.user_id, [])
    }
    keys = list(candidates)
    if not keys:
        return []
    with transaction.atomic():
        existing = set()
        for start in range(0, len(keys), _CHUNK):
            existing.update(Notification.objects.filter(dedupe_key__in=keys[start:start + _CHUNK])
                            .values_list("dedupe_key", flat=True))
        new = [n for key, n in candidates.items() if key not in existing]
        # ignore_conflicts: a concurrent redelivery may insert the same key between the two statements.
        Notification.objects.bulk_create(new, batch_size=_CHUNK, ignore_conflicts=True)
        rows = []
        for start in range(0, len(keys), _CHUNK):
            rows.extend(Notification.objects.filter(dedupe_key__in=keys[start:start + _CHUNK]).order_by("id")
                        .values("id", "dedupe_key", "user_id", "template_key", "channel", "payload", "status",
                                "created_at"))
        # One `notifications.new` per notification (not per delivery channel): the app shows one
        # item; `channels` says where it is also delivered. Two deliveries racing on the same key
        # may both publish it: events are at least once, clients drop duplicates by id.
        created: dict[str, list[dict]] = {}
        for row in rows:
            if row["dedupe_key"] not in existing:
                created.setdefault(row["dedupe_key"].rsplit(":", 1)[0], []).append(row)
        publish_many(events=(
            (NOTIFICATIONS_NEW, [user_group(group[0]["user_id"])],
             {"id": group[0]["id"], "ids": [r["id"] for r in group], "templateKey": group[0]["template_key"],
              "channels": [r["channel"] for r in group], "data": group[0]["payload"],
              "createdAt": group[0]["created_at"]})
            for group in created.values()
        ))
    return [row["id"] for row in rows if row["status"] == NotificationStatus.QUEUED]


def notifications_deliver(*, requests: Sequence[NotificationRequest]) -> list[int]:
    """Record `requests` (see `notifications_record`) and, after commit, queue one send task per
    queued row on the `notifications` queue. Returns the ids queued for sending."""
    from .tasks import notification_send_run

    ids = notifications_record(requests=requests)
    transaction.on_commit(lambda: [notification_send_run.delay(notification_id=pk) for pk in ids])
    return ids


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


def notification_send(*, notification_id: int) -> str:
    """Send one notification once. Returns its status after this call: "sent", "failed", or the
    current status when another delivery holds or finished it (then nothing is sent).

    Raises TransientProviderError after putting the row back to queued, for the task to retry.
    Permanent errors mark it failed (and deactivate the bad token or number). Waits for the
    global rate limit between the claim and the provider call.
    """
    if not _claim(notification_id):
        return Notification.objects.filter(pk=notification_id).values_list("status", flat=True).first() or "missing"
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    try:
        error = _deliver(notification)
    except TransientProviderError as exc:
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


def notification_fail(*, notification_id: int, error: str) -> None:
    """Mark a notification failed after its last retry (only if it is not sent)."""
    Notification.objects.filter(pk=notification_id, status__in=[NotificationStatus.QUEUED, NotificationStatus.SENDING]
                                ).update(status=NotificationStatus.FAILED, error=error[:2000])


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
    from .tasks import notification_send_run

    stale = timezone.now() - timedelta(seconds=settings.NOTIFICATION_STALE_SENDING_SECONDS)
    retryable = Q(status=NotificationStatus.FAILED) | Q(status=NotificationStatus.SENDING, claimed_at__lt=stale)
    rows = list(Notification.objects.select_for_update().filter(retryable, pk__in=list(notification_ids))
                .order_by("id").values_list("id", "status"))
    ids = [pk for pk, _ in rows]
    Notification.objects.filter(pk__in=ids).update(status=NotificationStatus.QUEUED, error="")
    for pk, status in rows:
        audit_record(action="notification.retry", entity_type="notification", entity_id=pk, user=actor,
                     metadata={"previousStatus": status})
    transaction.on_commit(lambda: [notification_send_run.delay(notification_id=pk) for pk in ids])
    return ids
