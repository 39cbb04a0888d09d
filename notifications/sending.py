"""Sending one recorded notification, once: claim -> provider -> outcome (docs/notifications.md, "Sending").

The claim (queued -> sending, a guarded UPDATE counting the attempt) comes first, so a send task
run twice (a redelivered message, a follow-up dispatched again, a sweep racing the original
message) sends once: the second finds the row claimed or done and is skipped. Then the channel's
provider adapter (notifications.providers) is called after the global rate limit
(notifications.ratelimit). The outcome is `sent` or `failed`; a transient provider error releases
the claim (back to queued) for the task to retry, except on the last try, which fails the row.
"""
from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from .catalog import render
from .models import Notification, NotificationChannel, NotificationPreference, NotificationStatus
from .providers import PermanentProviderError, TransientProviderError, get_provider
from .ratelimit import get_limiter
from .selectors import device_tokens_active
from .services import devices_deactivate


def notification_send(*, notification_id: int, last_try: bool = False) -> str:
    """Send one notification once. Returns its status after this call: "sent" or "failed", or,
    when the claim finds it held by another send or finished (skipped: nothing sent), its
    current status ("missing" for an unknown id).

    Raises TransientProviderError after releasing the claim (row back to queued), for the task
    to retry; on the `last_try` a transient error fails the row instead ("gave up after N
    attempts"). A permanent error fails it (and deactivates the bad device token or phone
    number). Any other error fails it and is raised: the provider may already have accepted the
    message, so it is not put back to queued. Waits for the global rate limit between the claim
    and the provider call.
    """
    if not _claim(notification_id):
        return Notification.objects.filter(pk=notification_id).values_list("status", flat=True).first() or "missing"
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    try:
        error = _provider_send(notification)
    except TransientProviderError as exc:
        if last_try:
            _outcome(notification_id, NotificationStatus.FAILED, f"gave up after {notification.attempts} attempts: {exc}")
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
    Notification.objects.filter(pk=notification_id, status=NotificationStatus.SENDING).update(
        status=NotificationStatus.QUEUED, error=error[:2000])


def _outcome(notification_id: int, status: str, error: str = "") -> None:
    """sending -> `status` (sent, with its time, or failed with `error`)."""
    changes = {"status": status, "error": error[:2000]}
    if status == NotificationStatus.SENT:
        changes["sent_at"] = timezone.now()
    Notification.objects.filter(pk=notification_id, status=NotificationStatus.SENDING).update(**changes)


def _provider_send(notification: Notification) -> str:
    """Render the message and hand it to the channel's provider. Returns "" when sent or the
    reason it cannot be sent (no recipient; a permanent failure); raises TransientProviderError
    to retry and PermanentProviderError for a permanent one."""
    message = render(template_key=notification.template_key, channel=notification.channel,
                     payload=notification.payload)
    provider = get_provider(notification.channel)
    if notification.channel == NotificationChannel.PUSH:
        return _push_send(notification, provider, title=message.title, body=message.body)
    if notification.channel == NotificationChannel.SMS:
        return _sms_send(notification, provider, body=message.body)
    email = notification.user.email
    if not email:
        return "no email address"
    get_limiter().acquire(1)
    provider.send(to=email, subject=message.title, body=message.body)
    return ""


def _push_send(notification: Notification, provider, *, title: str, body: str) -> str:
    """One multicast to the user's active devices (at most the per-second limit of them); tokens
    FCM calls invalid are deactivated. Sent when at least one device took it (retrying would
    repeat it on those)."""
    limiter = get_limiter()
    tokens = device_tokens_active(user_id=notification.user_id)[: limiter.limit]
    if not tokens:
        return "no active device"
    limiter.acquire(len(tokens))
    result = provider.send(tokens=tokens, title=title, body=body, data=_push_data(notification))
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


def _sms_send(notification: Notification, provider, *, body: str) -> str:
    """To the user's phone when set, active and opted in; a number the provider calls invalid
    (unsubscribed, not a mobile) is marked inactive."""
    pref = NotificationPreference.objects.filter(user_id=notification.user_id).first()
    if pref is None or not (pref.phone and pref.phone_active and pref.sms_enabled):
        return "no active phone number or SMS opted out"
    get_limiter().acquire(1)
    try:
        provider.send(to=pref.phone, body=body)
    except PermanentProviderError as exc:
        if exc.recipient_invalid:
            NotificationPreference.objects.filter(pk=pref.pk, phone=pref.phone).update(phone_active=False)
        raise
    return ""
