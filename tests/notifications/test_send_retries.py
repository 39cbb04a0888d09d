"""The send task's retry path (core.tasks retry style), as a worker runs it (Celery schedules the
retry) and inline (Celery runs each retry at once)."""
import pytest
from celery.exceptions import Retry

from notifications.models import Notification
from notifications.providers import TransientProviderError
from notifications.tasks import notification_send_run

from ..accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_row():
    user = UserFactory(email="asha@example.com")
    return Notification.objects.create(user=user, template_key="listing_expired", channel="email",
                                       payload={"title": "Sofa"}, dedupe_key="k:email")


def _run_as_worker(task, *, retries: int, **kwargs):
    """Run `task` as a worker would on try number `retries` (not inline)."""
    task.push_request(retries=retries, is_eager=False, called_directly=False)
    try:
        return task.run(**kwargs)
    finally:
        task.pop_request()


def test_transient_error_schedules_a_retry_with_jittered_backoff(email_row, scripted, monkeypatch):
    scripted["email"].script = [TransientProviderError("503 from provider")]
    scheduled = []
    monkeypatch.setattr(notification_send_run, "retry",
                        lambda **kw: scheduled.append(kw) or Retry("scheduled", when=kw["countdown"]))
    with pytest.raises(Retry):
        _run_as_worker(notification_send_run, retries=2, notification_id=email_row.pk)
    (kwargs,) = scheduled
    assert isinstance(kwargs["exc"], TransientProviderError)
    assert 0 <= kwargs["countdown"] <= 15 * 2 ** 2  # NOTIFICATION_RETRY_BASE_SECONDS doubling, full jitter
    email_row.refresh_from_db()
    assert (email_row.status, email_row.attempts, email_row.error) == ("queued", 1, "503 from provider")


def test_last_try_marks_the_row_failed_instead_of_retrying(email_row, scripted, monkeypatch):
    scripted["email"].script = [TransientProviderError("timeout")]
    monkeypatch.setattr(notification_send_run, "retry", lambda **kw: pytest.fail("retried past max_retries"))
    status = _run_as_worker(notification_send_run, retries=notification_send_run.max_retries,
                            notification_id=email_row.pk)
    assert status == "failed"
    email_row.refresh_from_db()
    assert email_row.status == "failed" and email_row.error == "gave up after 1 attempts: timeout"


def test_task_declares_the_one_retry_style():
    assert notification_send_run.autoretry_for[-1] is TransientProviderError
    assert (notification_send_run.retry_jitter, notification_send_run.max_retries) == (True, 5)
    assert notification_send_run.retry_backoff == 15 and notification_send_run.retry_backoff_max == 900


def test_inline_retries_run_at_once_until_sent(email_row, scripted, settings):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    scripted["email"].script = [TransientProviderError("503"), TransientProviderError("503")]
    assert notification_send_run.delay(notification_id=email_row.pk).get() == "sent"
    email_row.refresh_from_db()
    assert (email_row.status, email_row.attempts, len(scripted["email"].calls)) == ("sent", 3, 3)
