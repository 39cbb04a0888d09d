"""Celery tasks of the `notifications` queue (thin: ids and plain data in, services do the work)."""
from celery import shared_task

from .services import notification_record, notification_send


@shared_task(acks_late=True)
def notification_deliver(*, user_id: int, template_key: str, payload: dict, dedupe_key: str) -> int:
    """Record the notification for `dedupe_key` (once) and send it (once). Returns its id."""
    notification, _ = notification_record(user_id=user_id, template_key=template_key, payload=payload,
                                          dedupe_key=dedupe_key)
    notification_send(notification_id=notification.pk)
    return notification.pk
