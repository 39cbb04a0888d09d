"""The sweeper: sends again what was recorded but never sent, and names what is stuck in `sending`
(job `notifications_sweep`, every minute; docs/notifications.md, "Sweeper").

A row stays `queued` when its send task's message was lost (and its follow-up's redispatches too)
or a retry message was lost after a transient error; the sweeper runs the send task for it again.
A row stays `sending` when its worker died between the claim and the provider's answer: it may
have reached the user, so it is never resent automatically (at most once); the sweeper raises one
`admin.alert` naming it, and an admin may retry it (notifications.services.notifications_retry).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import Task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from outbox.alerts import admin_alert

from .models import Notification, NotificationStatus
from .selectors import notification_ids_stuck_sending

log = logging.getLogger("dgt.notifications")

_ALERT_MARK_SECONDS = 7 * 24 * 3600


def notifications_sweep(*, send: Task, now: datetime | None = None, limit: int | None = None) -> dict:
    """Run the send task `send` again for the rows whose send never ran, and alert on stuck ones.

    `send` is notifications.tasks.notification_send_run (passed in by the sweep task, which
    imports this module). `now` (aware UTC) defaults to the current time.

    Picks `queued` rows older than NOTIFICATION_SWEEP_AFTER_SECONDS that were never claimed, or
    that went back to queued after a transient error more than NOTIFICATION_RETRY_MAX_SECONDS +
    NOTIFICATION_SWEEP_AFTER_SECONDS ago (their retry message should have run by then), oldest
    first, at most `limit` (NOTIFICATION_SWEEP_LIMIT). Each send continues the row's retry count:
    a row back in queued after `attempts` tries lost the message of retry number `attempts`, so
    NOTIFICATION_MAX_RETRIES still bounds the tries. Safe to run twice at once or while the
    original message is still on its way: the send's claim (queued -> sending) lets one send
    through, the others are skipped.

    `sending` rows are not resent (see the module docstring): `notifications_stuck_alert`.
    Returns {"requeued": rows sent again, "staleSending": rows stuck in sending}.
    """
    now = now or timezone.now()
    limit = limit or settings.NOTIFICATION_SWEEP_LIMIT
    after = timedelta(seconds=settings.NOTIFICATION_SWEEP_AFTER_SECONDS)
    retry_after = after + timedelta(seconds=settings.NOTIFICATION_RETRY_MAX_SECONDS)
    rows = list(Notification.objects.filter(status=NotificationStatus.QUEUED, created_at__lt=now - after)
                .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - retry_after))
                .order_by("created_at", "id").values_list("id", "attempts")[:limit])
    for pk, attempts in rows:
        send.apply_async(kwargs={"notification_id": pk}, retries=attempts)
    stale = notifications_stuck_alert(now=now)
    if rows or stale:
        log.warning("notifications sweep: requeued %d queued notification(s); %d stuck in sending "
                    "(not resent automatically: an admin may retry them)", len(rows), stale)
    return {"requeued": len(rows), "staleSending": stale}


def notifications_stuck_alert(*, now: datetime | None = None) -> int:
    """Raise one `admin.alert` (kind `notifications.stuck_sending`, `notificationIds` (at most
    50), `count`) naming the rows in `sending` for longer than NOTIFICATION_STALE_SENDING_SECONDS
    that no alert named yet (a cache mark per row, kept a week; with the cache down a row may be
    named twice). An admin decides whether to resend them: `notifications_retry`, the admin
    action or POST /api/admin/notifications/retry. Returns how many rows are stuck in all."""
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
        return cache.add(stuck_alert_key(notification_id), 1, timeout=_ALERT_MARK_SECONDS)
    except Exception:  # cache down: alerting twice beats not alerting
        return True
