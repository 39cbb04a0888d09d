"""Celery tasks of the `notifications` queue (thin: ids in, notifications.sending and
notifications.sweeping do the work; the core.tasks retry style)."""
from django.conf import settings

from core.tasks import retrying_task

from .providers import TransientProviderError
from .sending import notification_send
from .sweeping import notifications_sweep


# The send keeps no result row (ignore_result): the notification row is the record of the outcome, and a
# result write per send is work nobody reads (docs/benchmarks.md). Failures are still stored
# (CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED) for /api/admin/queues.
@retrying_task(bind=True, acks_late=True, transient=(TransientProviderError,),
               max_retries=settings.NOTIFICATION_MAX_RETRIES, backoff=int(settings.NOTIFICATION_RETRY_BASE_SECONDS),
               backoff_max=int(settings.NOTIFICATION_RETRY_MAX_SECONDS), ignore_result=True)
def notification_send_run(self, *, notification_id: int) -> str:
    """Send one notification once (notifications.sending.notification_send). A transient provider
    error puts the row back to queued and Celery retries with backoff and jitter; on the last of
    the 1 + max_retries tries it marks the row failed instead (visible, an admin may retry it).
    Run by the follow-ups of notifications.recording and by the sweeper. Returns its status."""
    return notification_send(notification_id=notification_id, last_try=self.request.retries >= self.max_retries)


@retrying_task()
def notifications_sweep_run() -> dict:
    """Job `notifications_sweep` (dgt/jobs.py): send again the queued notifications whose send
    never ran, alert on ones stuck in sending (notifications.sweeping)."""
    return notifications_sweep(send=notification_send_run)
