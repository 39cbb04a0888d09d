"""Celery tasks of the `notifications` queue (thin: ids and plain data in, services do the work)."""
from django.conf import settings

from core.tasks import retrying_task

from .providers import TransientProviderError
from .services import NotificationRequest, notification_send, notifications_deliver, notifications_sweep


# Sends keep no result row (ignore_result): the notification row is the record of the outcome, and a
# result write per send is work nobody reads (docs/benchmarks.md). Failures are still stored
# (CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED) for /api/admin/queues.
@retrying_task(acks_late=True, ignore_result=True)
def notifications_send_many(*, notification_ids: list[int]) -> int:
    """Fan a batch of recorded notifications out into one send task each (so the caller sends one
    message per batch). Losing this message loses nothing: the rows stay queued for the sweeper."""
    for pk in notification_ids:
        notification_send_run.delay(notification_id=pk)
    return len(notification_ids)


@retrying_task()
def notifications_sweep_run() -> dict:
    """Job `notifications_sweep`: queue again the queued notifications whose message was lost."""
    return notifications_sweep()


# The two deliver tasks below are the pre-outbox flow (record in the worker); kept so messages
# already in a broker at deploy time are still recorded and sent. Nothing new sends them.
@retrying_task(acks_late=True)
def notification_deliver(*, user_id: int, template_key: str, payload: dict, dedupe_key: str) -> list[int]:
    """Record the notification of one event (one row per channel, once) and queue their sends."""
    return notifications_deliver(requests=[NotificationRequest(user_id, template_key, payload, dedupe_key)])


@retrying_task(acks_late=True)
def notification_deliver_many(*, items: list[dict]) -> int:
    """Same for a batch of events (`items` of {user_id, template_key, payload, dedupe_key})."""
    return len(notifications_deliver(requests=[NotificationRequest(**item) for item in items]))


@retrying_task(bind=True, acks_late=True, transient=(TransientProviderError,),
               max_retries=settings.NOTIFICATION_MAX_RETRIES, backoff=int(settings.NOTIFICATION_RETRY_BASE_SECONDS),
               backoff_max=int(settings.NOTIFICATION_RETRY_MAX_SECONDS), ignore_result=True)
def notification_send_run(self, *, notification_id: int) -> str:
    """Send one notification once (core.tasks retry style): a transient provider error puts the
    row back to queued and Celery retries with backoff and jitter; on the last of the
    1 + max_retries tries it marks the row failed instead (visible, an admin may retry it).
    Returns its status."""
    return notification_send(notification_id=notification_id, last_try=self.request.retries >= self.max_retries)
