"""The payout send task's retry path (core.tasks retry style): scheduled by Celery as a worker
runs it, at once inline; after the last retry the payout stays pending with its error."""
from decimal import Decimal

import pytest
from celery.exceptions import Retry

from wallet.gateways import GatewayTimeout
from wallet.models import PayoutStatus
from wallet.services import payout_request
from wallet.tasks import payout_submit_task

from .helpers import fund, payable

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_payout(seller, settings):
    payable(seller)
    fund(seller, "100.00")
    settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "timeout"
    payout, _ = payout_request(user=seller, amount=Decimal("40.00"))  # its after-commit send never runs here
    return payout


def _run_as_worker(task, *, retries: int, **kwargs):
    task.push_request(retries=retries, is_eager=False, called_directly=False)
    try:
        return task.run(**kwargs)
    finally:
        task.pop_request()


def test_gateway_timeout_schedules_a_retry_with_jittered_backoff(pending_payout, monkeypatch):
    scheduled = []
    monkeypatch.setattr(payout_submit_task, "retry",
                        lambda **kw: scheduled.append(kw) or Retry("scheduled", when=kw["countdown"]))
    with pytest.raises(Retry):
        _run_as_worker(payout_submit_task, retries=1, payout_id=pending_payout.pk)
    (kwargs,) = scheduled
    assert isinstance(kwargs["exc"], GatewayTimeout)
    assert 0 <= kwargs["countdown"] <= 30 * 2
    pending_payout.refresh_from_db()
    assert (pending_payout.status, pending_payout.attempts) == (PayoutStatus.PENDING, 1)
    assert pending_payout.last_error.startswith("GatewayTimeout")


def test_after_the_last_retry_it_stays_pending_with_its_error(pending_payout, monkeypatch):
    monkeypatch.setattr(payout_submit_task, "retry", lambda **kw: pytest.fail("retried past max_retries"))
    result = _run_as_worker(payout_submit_task, retries=payout_submit_task.max_retries, payout_id=pending_payout.pk)
    assert result == {"payoutId": pending_payout.pk, "status": PayoutStatus.PENDING, "attempts": 1}


def test_inline_retries_run_at_once_and_are_bounded(pending_payout, settings):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    result = payout_submit_task.delay(payout_id=pending_payout.pk).get()
    assert result == {"payoutId": pending_payout.pk, "status": PayoutStatus.PENDING,
                      "attempts": 1 + payout_submit_task.max_retries}


def test_inline_retry_succeeds_when_the_gateway_comes_back(pending_payout, settings, monkeypatch):
    from wallet.gateways import fake

    calls = []
    real = fake.FakeGateway.payout_create

    def flaky(self, **kwargs):
        calls.append(1)
        settings.PAYMENT_GATEWAY_FAKE_OUTCOME = "timeout" if len(calls) < 3 else "succeed"
        return real(self, **kwargs)

    monkeypatch.setattr(fake.FakeGateway, "payout_create", flaky)
    result = payout_submit_task.delay(payout_id=pending_payout.pk).get()
    assert len(calls) == 3
    assert result["attempts"] == 3 and result["status"] != PayoutStatus.PENDING
