"""Sending one recorded notification, once: read -> claim -> provider -> outcome (docs/notifications.md, "Sending").

Everything the send needs (the row, its message, the recipient: email address, phone number or
device tokens) is read first. The claim (queued -> sending, a guarded UPDATE counting the attempt)
comes next, so a send task run twice (a redelivered message, a follow-up dispatched again, a sweep
racing the original message) sends once: the second finds the row claimed or done and is skipped.
Between the claim and the provider's answer nothing touches the database, so PostgreSQL
restarting there cannot leave a row `sending` that no provider was asked to send
(docs/operations.md). Then the channel's provider adapter (notifications.providers) is called
after the global rate limit (notifications.ratelimit). The outcome is `sent` or `failed`; a
transient provider error releases the claim (back to queued) for the task to retry, except on the
last try, which fails the row. The outcome (and the release) are retried on a new connection
while PostgreSQL restarts (core.tasks.database_write_retried): the provider has already answered.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from core.tasks import database_write_retried

from .catalog import render
from .models import Notification, NotificationChannel, NotificationPreference, NotificationStatus
from .providers import PermanentProviderError, TransientProviderError, get_provider
from .ratelimit import get_limiter
from .selectors import device_tokens_active
from .services import devices_deactivate


@dataclass(frozen=True)
class _Prepared:
    """One send as read before the claim: the rendered message and its recipient (`to`: email
    address or phone number; `tokens`: push devices, at most the per-second limit of them;
    `pref_id`: the SMS preference row). `skip` says why it cannot be sent (no recipient): the row
    then fails with that reason and no provider is called."""

    title: str
    body: str
    to: str = ""
    tokens: tuple[str, ...] = ()
    pref_id: int | None = None
    skip: str = ""


def notification_send(*, notification_id: int, last_try: bool = False) -> str:
    """Send one notification once. Returns its status after this call: "sent" or "failed", or,
    when the row is not queued or the claim finds it held by another send or finished (skipped:
    nothing sent), its current status ("missing" for an unknown id).

    Raises TransientProviderError after releasing the claim (row back to queued), for the task
    to retry; on the `last_try` a transient error fails the row instead ("gave up after N
    attempts"). A permanent error fails it (and deactivates the bad device token or phone
    number). Any other error fails it and is raised: the provider may already have accepted the
    message, so it is not put back to queued. A database error before the claim is raised with
    nothing changed (the task retries it). Waits for the global rate limit between the claim
    and the provider call.
    """
    notification = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if notification is None:
        return "missing"
    if notification.status != NotificationStatus.QUEUED:
        return notification.status
    prepared = _prepare(notification)
    if not _claim(notification_id):
        return Notification.objects.filter(pk=notification_id).values_list("status", flat=True).first() or "missing"
    attempts = notification.attempts + 1  # the claim counted this one
    if prepared.skip:
        _outcome(notification_id, NotificationStatus.FAILED, prepared.skip)
        return NotificationStatus.FAILED.value
    try:
        error = _deliver(notification, prepared)
    except TransientProviderError as exc:
        if last_try:
            _outcome(notification_id, NotificationStatus.FAILED, f"gave up after {attempts} attempts: {exc}")
            return NotificationStatus.FAILED.value
        _claim_release(notification_id, str(exc))
        raise
    except PermanentProviderError as exc:
        error = str(exc) or type(exc).__name__
    except Exception as exc:
        _outcome(notification_id, NotificationStatus.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    status = NotificationStatus.FAILED if error else NotificationStatus.SENT
    _outcome(notification_id, status, error)
    return status.value


def _claim(notification_id: int) -> bool:
    """queued -> sending, counting the attempt; False when another send holds it or it is done."""
    return bool(Notification.objects.filter(pk=notification_id, status=NotificationStatus.QUEUED).update(
        status=NotificationStatus.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now()))


def _claim_release(notification_id: int, error: str) -> None:
    """sending -> queued after a transient error (nothing reached the recipient), for a retry."""
    database_write_retried(lambda: Notification.objects.filter(
        pk=notification_id, status=NotificationStatus.SENDING).update(status=NotificationStatus.QUEUED,
                                                                       error=error[:2000]))


def _outcome(notification_id: int, status: str, error: str = "") -> None:
    """sending -> `status` (sent, with its time, or failed with `error`)."""
    changes = {"status": status, "error": error[:2000]}
    if status == NotificationStatus.SENT:
        changes["sent_at"] = timezone.now()
    database_write_retried(lambda: Notification.objects.filter(
        pk=notification_id, status=NotificationStatus.SENDING).update(**changes))


def _prepare(notification: Notification) -> _Prepared:
    """Render the message of `notification` (its `user` loaded) and read its recipient: the
    user's email address; the phone number when set, active and opted in to SMS; the active
    devices' FCM tokens (oldest first). Reads only."""
    message = render(template_key=notification.template_key, channel=notification.channel,
                     payload=notification.payload)
    text = {"title": message.title, "body": message.body}
    if notification.channel == NotificationChannel.PUSH:
        tokens = tuple(device_tokens_active(user_id=notification.user_id)[: get_limiter().limit])
        return _Prepared(**text, tokens=tokens, skip="" if tokens else "no active device")
    if notification.channel == NotificationChannel.SMS:
        pref = NotificationPreference.objects.filter(user_id=notification.user_id).first()
        if pref is None or not (pref.phone and pref.phone_active and pref.sms_enabled):
            return _Prepared(**text, skip="no active phone number or SMS opted out")
        return _Prepared(**text, to=pref.phone, pref_id=pref.pk)
    email = notification.user.email
    return _Prepared(**text, to=email, skip="" if email else "no email address")


def _deliver(notification: Notification, prepared: _Prepared) -> str:
    """Hand the prepared message to the channel's provider after the global rate limit. Returns ""
    when sent or the reason it was not (every device token invalid); raises TransientProviderError
    to retry and PermanentProviderError for a permanent failure."""
    provider = get_provider(notification.channel)
    if notification.channel == NotificationChannel.PUSH:
        return _push_send(notification, provider, prepared)
    get_limiter().acquire(1)
    if notification.channel == NotificationChannel.SMS:
        try:
            provider.send(to=prepared.to, body=prepared.body)
        except PermanentProviderError as exc:
            if exc.recipient_invalid:  # unsubscribed, not a mobile: the number is marked inactive
                NotificationPreference.objects.filter(pk=prepared.pref_id, phone=prepared.to).update(phone_active=False)
            raise
        return ""
    provider.send(to=prepared.to, subject=prepared.title, body=prepared.body)
    return ""


def _push_send(notification: Notification, provider, prepared: _Prepared) -> str:
    """One multicast to the prepared device tokens; tokens FCM calls invalid are deactivated.
    Sent when at least one device took it (retrying would repeat it on those)."""
    get_limiter().acquire(len(prepared.tokens))
    result = provider.send(tokens=list(prepared.tokens), title=prepared.title, body=prepared.body,
                           data=_push_data(notification))
    if result.invalid:
        devices_deactivate(tokens=list(result.invalid), reason="; ".join(sorted(set(result.invalid.values()))))
    if result.sent:
        return ""
    if result.transient:
        raise TransientProviderError("; ".join(result.transient.values()))
    return "every device token is invalid: " + "; ".join(result.invalid.values())


def _push_data(notification: Notification) -> dict[str, str]:
    data = {"notificationId": str(notification.pk), "templateKey": notification.template_key}
    for key, value in notification.payload.items():
        if isinstance(value, (str, int, float, bool)):  # FCM data values are strings
            data.setdefault(key, str(value))
    return data
