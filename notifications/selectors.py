"""Notification reads."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from core.compiled import CompiledRows, converted

from .models import Device, Notification, NotificationChannel, NotificationPreference, NotificationStatus


def notification_list_for_user(*, user) -> QuerySet[Notification]:
    """The user's own notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-id")


def device_tokens_active(*, user_id: int) -> list[str]:
    """The FCM tokens of the user's active devices, oldest device first."""
    return list(Device.objects.filter(user_id=user_id, active=True).order_by("id").values_list("token", flat=True))


def _channels_query(*user_ids: int):
    # One statement: users LEFT JOIN their preference row, with an EXISTS for an active device.
    has_device = Exists(Device.objects.filter(user_id=OuterRef("pk"), active=True))
    return (get_user_model().objects.filter(pk__in=user_ids, is_active=True).annotate(has_device=has_device)
            .values_list("id", "email", "has_device", "notification_preference__push_enabled",
                         "notification_preference__sms_enabled", "notification_preference__email_enabled",
                         "notification_preference__phone", "notification_preference__phone_active"))


# Compiled once per number of users up to 8 (a request's one owner, a refund's one user): compiling
# this query cost more CPU than an approval's other statements (docs/benchmarks.md, "Approve and
# refund: fewer statements").
_CHANNELS = CompiledRows(get_user_model(), _channels_query)


def channels_for_users(*, user_ids: Iterable[int]) -> dict[int, list[str]]:
    """For each user id, the channels the user can receive and has not opted out of, in the
    order push, sms, email. One query whatever the number of users.

    push: an active device; sms: a phone number that is still active; email: `User.email`
    (and the account is active). A user without a NotificationPreference row has every channel on.
    """
    return {row[0]: channels_of_row(row) for row in _CHANNELS.rows(*sorted(set(user_ids)))}


def channels_sql(*, alias: str, user_expr: str) -> tuple[str, list]:
    """(sql, params) of `channels_for_users`' query for ONE user whose id is the SQL expression
    `user_expr` (a column of the caller's statement, which joins it LATERAL: listings.lock_objects),
    built once; each row it yields goes through `channels_of_row(row, alias)`. PostgreSQL."""
    return _CHANNELS.fragment(alias, user_expr)


def channels_of_row(row: tuple, alias: str | None = None) -> list[str]:
    """The channels of one row of the channels query (`channels_for_users`' rule); `alias`: the
    database the row was read from by hand-written SQL (`channels_sql`), whose converters are applied."""
    if alias is not None:
        converters = _CHANNELS.converters(alias, 1)
        if converters:
            row = converted(row, converters, connections[alias])
    _user_id, email, device, push_on, sms_on, email_on, phone, phone_active = row
    if push_on is None:  # no preference row: every channel on, no phone
        push_on, sms_on, email_on, phone, phone_active = True, True, True, "", True
    wanted = []
    if push_on and device:
        wanted.append(NotificationChannel.PUSH.value)
    if sms_on and phone and phone_active:
        wanted.append(NotificationChannel.SMS.value)
    if email_on and email:
        wanted.append(NotificationChannel.EMAIL.value)
    return wanted


def device_list_for_user(*, user) -> QuerySet[Device]:
    """The user's active devices, newest first."""
    return Device.objects.filter(user=user, active=True).order_by("-id")


def preference_for_user(*, user) -> NotificationPreference:
    """The user's preferences, or the unsaved defaults (every channel on, no phone)."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)


def notification_ids_stuck_sending(*, now=None, limit: int = 1000) -> list[int]:
    """Ids of rows in `sending` longer than NOTIFICATION_STALE_SENDING_SECONDS (lost worker), oldest first."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.NOTIFICATION_STALE_SENDING_SECONDS)
    return list(Notification.objects.filter(status=NotificationStatus.SENDING, claimed_at__lt=cutoff)
                .order_by("id").values_list("id", flat=True)[:limit])
