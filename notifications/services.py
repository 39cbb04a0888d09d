"""Notification services besides recording and sending: devices, preferences, an admin's retry.

Recording is notifications.recording, sending notifications.sending, the sweeper
notifications.sweeping (docs/notifications.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from core.errors import NotFound

from .models import Device, Notification, NotificationPreference, NotificationStatus
from .recording import notifications_send_after_commit


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
    notifications_send_after_commit(notification_ids=ids)
    return ids
