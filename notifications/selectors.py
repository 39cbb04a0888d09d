"""Notification reads."""
from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from .models import Device, Notification, NotificationChannel, NotificationPreference


def notification_list_for_user(*, user) -> QuerySet[Notification]:
    """The user's own notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-id")


def device_tokens_active(*, user_id: int) -> list[str]:
    """The FCM tokens of the user's active devices, oldest device first."""
    return list(Device.objects.filter(user_id=user_id, active=True).order_by("id").values_list("token", flat=True))


def channels_for_users(*, user_ids: Iterable[int]) -> dict[int, list[str]]:
    """For each user id, the channels the user can receive and has not opted out of, in the
    order push, sms, email. Three queries whatever the number of users.

    push: an active device; sms: a phone number that is still active; email: `User.email`
    (and the account is active). A user without a NotificationPreference row has every channel on.
    """
    ids = list(set(user_ids))
    prefs = {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=ids)}
    with_devices = set(Device.objects.filter(user_id__in=ids, active=True).values_list("user_id", flat=True))
    emails = dict(get_user_model().objects.filter(pk__in=ids, is_active=True).values_list("id", "email"))
    channels: dict[int, list[str]] = {}
    for user_id in ids:
        if user_id not in emails:
            continue
        pref = prefs.get(user_id) or NotificationPreference(user_id=user_id)
        wanted = []
        if pref.push_enabled and user_id in with_devices:
            wanted.append(NotificationChannel.PUSH.value)
        if pref.sms_enabled and pref.phone and pref.phone_active:
            wanted.append(NotificationChannel.SMS.value)
        if pref.email_enabled and emails[user_id]:
            wanted.append(NotificationChannel.EMAIL.value)
        channels[user_id] = wanted
    return channels


def device_list_for_user(*, user) -> QuerySet[Device]:
    """The user's active devices, newest first."""
    return Device.objects.filter(user=user, active=True).order_by("-id")


def preference_for_user(*, user) -> NotificationPreference:
    """The user's preferences, or the unsaved defaults (every channel on, no phone)."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)
