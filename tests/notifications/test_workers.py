"""The global send rate holds across two real Celery worker processes (services mode)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection

from notifications.models import Notification

from ..accounts.factories import UserFactory

pytestmark = pytest.mark.slow

BASE = Path(__file__).resolve().parents[2]
LIMIT = 20  # per second; lower than the production 100 so two single-threaded workers can saturate it


def _start_worker(name: str, env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dgt", "worker", "-Q", "notifications", "-P", "solo",
         "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
        cwd=BASE, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_celery_workers_together_send_at_most_the_limit_per_second(tmp_path):
    # Given 120 queued email notifications and two worker processes on the test database.
    user = UserFactory(email="rate@example.com")
    ids = [Notification.objects.create(user=user, template_key="listing_expired", channel="email",
                                       payload={"title": f"Item {i}"}, dedupe_key=f"rate:{i}:email").pk
           for i in range(120)]
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
           "CELERY_TASK_ALWAYS_EAGER": "0", "DEBUG": "1", "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
           "NOTIFICATION_RATE_LIMIT_PER_SECOND": str(LIMIT),
           "NOTIFICATION_RATE_LIMIT_KEY": f"{settings.NOTIFICATION_RATE_LIMIT_KEY}:workers-test:{uuid.uuid4().hex}"}
    workers = [_start_worker(f"rate{i}-{uuid.uuid4().hex[:6]}", env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        # When the send tasks go through the real broker.
        for pk in ids:
            current_app.send_task("notifications.tasks.notification_send_run", kwargs={"notification_id": pk},
                                  queue="notifications")
        deadline = time.time() + 90
        while time.time() < deadline and Notification.objects.filter(pk__in=ids, status="sent").count() < len(ids):
            time.sleep(0.5)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)

    # Then every notification was sent once, by both workers, never more than LIMIT in a second.
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    assert Notification.objects.filter(pk__in=ids, status="sent", attempts=1).count() == len(ids), logs[0][-2000:]
    per_second = Counter(int(ts.timestamp()) for ts in Notification.objects.filter(pk__in=ids)
                         .values_list("sent_at", flat=True))
    assert max(per_second.values()) <= LIMIT, per_second
    assert len(per_second) >= len(ids) // LIMIT
    assert all("succeeded" in log for log in logs)  # both workers sent some
