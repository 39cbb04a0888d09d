"""Notification writes: enqueue after commit, record once, deliver once."""
from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from outbox.services import publish, user_group

from .backends import get_backend
from .models import Notification, NotificationStatus

NOTIFICATIONS_NEW = "notifications.new"


def notification_enqueue(*, user_id: int, template_key: str, payload: dict, dedupe_key: str) -> None:
    """Queue `template_key` for `user_id` once the caller's transaction commits (nothing is
    queued if it rolls back). `dedupe_key` makes the delivery idempotent."""
    from .tasks import notification_deliver

    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    transaction.on_commit(lambda: notification_deliver.delay(user_id=user_id, template_key=template_key,
                                                             payload=data, dedupe_key=dedupe_key))


def notification_record(*, user_id: int, template_key: str, payload: dict, dedupe_key: str) -> tuple[Notification, bool]:
    """Create the Notification row for `dedupe_key` (or return the existing one) and, when
    created, publish `notifications.new` to the user in the same transaction."""
    with transaction.atomic():
        notification, created = Notification.objects.get_or_create(
            dedupe_key=dedupe_key, defaults={"user_id": user_id, "template_key": template_key, "payload": payload}
        )
        if created:
            publish(channel=NOTIFICATIONS_NEW, groups=[user_group(user_id)],
                    data={"id": notification.pk, "templateKey": template_key, "channel": notification.channel,
                          "data": payload, "createdAt": notification.created_at})
    return notification, created


def notification_send(*, notification_id: int) -> Notification:
    """Send a queued notification through the configured backend and mark it sent. A sent
    notification is not sent again (the row is locked while it is sent)."""
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        if notification.status != NotificationStatus.QUEUED:
            return notification
        get_backend().send(notification)
        notification.status = NotificationStatus.SENT
        notification.sent_at = timezone.now()
        notification.save(update_fields=["status", "sent_at"])
    return notification
