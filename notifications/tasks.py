"""Celery tasks of the `notifications` queue (thin: ids and plain data in, services do the work)."""
import random

from celery import shared_task
from django.conf import settings

from .providers import TransientProviderError
from .services import (NotificationRequest, notification_fail, notification_send, notifications_deliver,
                       notifications_sweep)


# Sends keep no result row (ignore_result): the notification row is the record of the outcome, and a
# result write per send is work nobody reads (docs/benchmarks.md). Failures are still stored
# (CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED) for /api/admin/queues.
@shared_task(acks_late=True, ignore_result=True)
def notifications_send_many(*, notification_ids: list[int]) -> int:
    """Fan a batch of recorded notifications out into one send task each (so the caller sends one
    message per batch). Losing this message loses nothing: the rows stay queued for the sweeper."""
    for pk in notification_ids:
        notification_send_run.delay(notification_id=pk)
    return len(notification_ids)


@shared_task
def notifications_sweep_run() -> dict:
    """Job `notifications_sweep`: queue again the queued notifications whose message was lost."""
    return notifications_sweep()


# The two deliver tasks below are the pre-outbox flow (record in the worker); kept so messages
# already in a broker at deploy time are still recorded and sent. Nothing new sends them.
@shared_task(acks_late=True)
def notification_deliver(*, user_id: int, template_key: str, payload: dict, dedupe_key: str) -> list[int]:
    """Record the notification of one event (one row per channel, once) and queue their sends."""
    return notifications_deliver(requests=[NotificationRequest(user_id, template_key, payload, dedupe_key)])


@shared_task(acks_late=True)
def notification_deliver_many(*, items: list[dict]) -> int:
    """Same for a batch of events (`items` of {user_id, template_key, payload, dedupe_key})."""
    return len(notifications_deliver(requests=[NotificationRequest(**item) for item in items]))


def retry_delay(retries: int) -> float:
    """Exponential backoff with full jitter: up to base * 2**retries seconds, capped."""
    ceiling = min(settings.NOTIFICATION_RETRY_MAX_SECONDS, settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** retries)
    return random.uniform(ceiling / 2, ceiling)


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def notification_send_run(self, *, notification_id: int) -> str:
    """Send one notification once; retry transient provider errors with backoff up to
    NOTIFICATION_MAX_RETRIES times, then mark it failed. Returns its status."""
    try:
        return notification_send(notification_id=notification_id)
    except TransientProviderError as exc:
        if self.request.retries >= settings.NOTIFICATION_MAX_RETRIES:
            notification_fail(notification_id=notification_id, error=f"gave up after {self.request.retries + 1} "
                                                                     f"attempts: {exc}")
            return "failed"
        if self.request.is_eager:
            # Inline mode (embedded, tests) has no broker to hold a delayed retry: retry at once.
            return self.apply(kwargs={"notification_id": notification_id}, retries=self.request.retries + 1,
                              throw=True).result
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries))
