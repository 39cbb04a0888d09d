"""`GET /api/admin/queues`: admin only; per queue waiting/active/scheduled/completed/failed and the
outbox counts, from the broker, worker inspection and django-celery-results."""
import os
import sys
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from django_celery_results.models import TaskResult

from accounts.models import Role
from ops.monitoring import queues as queues_module
from ops.monitoring.queues import KeptBrokerProbe, queues_overview
from outbox.models import EventOutbox, OutboxStatus

from ..servers import private_redis, process, services_env

pytestmark = pytest.mark.django_db
URL = "/api/admin/queues"
QUEUES = ["default", "notifications", "search", "analytics"]


def result(task_name, status, ago=timedelta(minutes=5)):
    row = TaskResult.objects.create(task_id=f"t-{TaskResult.objects.count()}", task_name=task_name, status=status)
    TaskResult.objects.filter(pk=row.pk).update(date_done=timezone.now() - ago)  # date_done is auto_now
    return row


def outbox_row(status):
    return EventOutbox.objects.create(channel="listings.update", group="admin", payload={}, status=status,
                                      next_attempt_at=timezone.now())


@pytest.mark.parametrize("role, expected", [(None, 401), (Role.USER, 403), (Role.MODERATOR, 403), (Role.ADMIN, 200)])
def test_admin_only(api, api_for, make_user, role, expected):
    client = api if role is None else api_for(make_user(role))
    assert client.get(URL).status_code == expected


def test_blocked_admin_is_refused(api_for, make_user):
    admin = make_user(Role.ADMIN, blocked_at=timezone.now(), block_reason="test")
    assert api_for(admin).get(URL).status_code == 403


def test_shape_and_counts(api_for, admin_user, monkeypatch):
    # given finished tasks in and out of the 24 h window, and outbox rows in every status
    result("listings.tasks.search_upsert", "SUCCESS")
    result("listings.tasks.search_upsert", "SUCCESS")
    result("listings.tasks.search_remove", "FAILURE")
    result("analytics.tasks.events_ingest", "SUCCESS")
    result("notifications.tasks.notification_send_run", "FAILURE")
    result("dgt.tasks.database_backup_run", "SUCCESS")
    result("listings.tasks.search_upsert", "SUCCESS", ago=timedelta(hours=25))  # outside the window
    result("listings.tasks.search_upsert", "STARTED")  # not finished
    for status, n in ((OutboxStatus.PENDING, 2), (OutboxStatus.SENT, 3), (OutboxStatus.FAILED, 1)):
        for _ in range(n):
            outbox_row(status)
    # and workers that hold tasks (inspection replies as Celery returns them)
    monkeypatch.setattr(queues_module, "broker_is_embedded", lambda: False)
    monkeypatch.setattr(queues_module, "queue_waiting", lambda *, queues, timeout: {"default": 0, "notifications": 7,
                                                                                    "search": 2, "analytics": 0})
    monkeypatch.setattr(current_app.control, "inspect", lambda **kw: FakeInspect(kw))

    body = api_for(admin_user).get(URL).json()

    assert body["queues"] == {
        "default": {"waiting": 0, "active": 0, "scheduled": 1, "completed": 1, "failed": 0},
        "notifications": {"waiting": 7, "active": 1, "scheduled": 0, "completed": 0, "failed": 1},
        "search": {"waiting": 3, "active": 2, "scheduled": 0, "completed": 2, "failed": 1},  # 2 in broker + 1 reserved
        "analytics": {"waiting": 0, "active": 0, "scheduled": 0, "completed": 1, "failed": 0},
    }
    assert body["outbox"]["pending"] == 2 and body["outbox"]["sent"] == 3 and body["outbox"]["failed"] == 1
    assert body["outbox"]["oldestPendingAt"]
    assert body["workers"] == ["w1@host", "w2@host"]
    assert body["errors"] == {}


class FakeInspect:
    def __init__(self, kwargs):
        self.kwargs = kwargs

    @staticmethod
    def _task(queue):
        return {"id": "x", "name": "t", "delivery_info": {"exchange": "", "routing_key": queue, "redelivered": False}}

    def ping(self):
        return {"w1@host": {"ok": "pong"}, "w2@host": {"ok": "pong"}}

    def active(self):
        assert self.kwargs["destination"] == ["w1@host", "w2@host"] and self.kwargs["limit"] == 2
        return {"w1@host": [self._task("search"), self._task("notifications")], "w2@host": [self._task("search")]}

    def reserved(self):
        return {"w1@host": [self._task("search")], "w2@host": []}

    def scheduled(self):
        return {"w1@host": [], "w2@host": [{"eta": "2026-01-01T00:00:00+00:00", "priority": 6,
                                            "request": self._task("default")}]}


def test_embedded_broker_counts_zero_without_asking_workers(api_for, admin_user, monkeypatch):
    monkeypatch.setattr(queues_module, "broker_is_embedded", lambda: True)  # as in embedded mode
    monkeypatch.setattr(current_app.control, "inspect", lambda **kw: pytest.fail("no worker to inspect"))
    body = api_for(admin_user).get(URL).json()
    assert all(body["queues"][q] == {"waiting": 0, "active": 0, "scheduled": 0, "completed": 0, "failed": 0}
               for q in QUEUES)
    assert body["workers"] == [] and body["errors"] == {}


def test_broker_down_is_reported_not_raised(api_for, admin_user, monkeypatch):
    monkeypatch.setitem(current_app.conf, "broker_url", "redis://127.0.0.1:19899/0")  # nothing listens there
    monkeypatch.setattr(current_app.control, "inspect", lambda **kw: pytest.fail("broker is down"))
    response = api_for(admin_user).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert "19899" in body["errors"]["broker"] or "Connection" in body["errors"]["broker"]
    assert [body["queues"][q]["waiting"] for q in QUEUES] == [None] * 4
    assert body["outbox"]["pending"] == 0


@pytest.mark.redis
def test_waiting_reads_the_redis_broker(settings):
    # a queue of this test's own, so other runs sharing the Redis db cannot disturb it
    queue = f"dgt_i16_waiting_{os.getpid()}"
    settings.QUEUES = [queue]
    try:
        assert queues_overview()["queues"][queue]["waiting"] == 0  # never declared
        for i in range(3):
            current_app.send_task("listings.tasks.search_upsert", kwargs={"listing_id": i}, queue=queue)
        assert queues_overview()["queues"][queue]["waiting"] == 3
    finally:
        with current_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)
            conn.default_channel.queue_delete(queue)


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_with_a_real_worker(settings, tmp_path):
    # given a real worker (on the test database) consuming a queue of this test's own
    queue = f"dgt_i16_e2e_{os.getpid()}"
    settings.QUEUES = [queue]
    env = services_env(DEBUG="1", CELERY_TASK_ALWAYS_EAGER="0")
    worker_args = [sys.executable, "-m", "celery", "-A", "dgt", "worker", "-Q", queue, "-n", f"{queue}@%h",
                   "--concurrency", "1", "--pool", "solo", "-l", "warning"]
    try:
        with process(worker_args, env, tmp_path / "worker.log") as worker:
            deadline = time.monotonic() + 60
            while f"{queue}@" not in " ".join(current_app.control.inspect(timeout=1).ping() or {}):
                assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            # when it runs two tasks
            for i in range(2):
                current_app.send_task("listings.tasks.search_upsert", kwargs={"listing_id": 10_000 + i}, queue=queue)
            while TaskResult.objects.filter(task_name="listings.tasks.search_upsert", status="SUCCESS").count() < 2:
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                time.sleep(0.2)
            # then the overview lists the worker, nothing waiting, two completed (search_upsert's own queue
            # by routing is `search`; this run sent them elsewhere, so count them under `search`)
            settings.QUEUES = [queue, "search"]
            body = queues_overview()
            assert any(w.startswith(f"{queue}@") for w in body["workers"])
            assert body["queues"][queue]["waiting"] == 0 and body["queues"][queue]["active"] == 0
            assert body["queues"]["search"]["completed"] == 2
            assert body["errors"] == {}
    finally:  # the worker has stopped
        with current_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


@pytest.mark.slow
@pytest.mark.redis
def test_kept_probe_reuses_one_connection_and_reconnects_after_the_broker_returns(monkeypatch, tmp_path):
    # given the dashboard's kept probe on a Redis broker of this test's own
    queue = f"dgt_probe_{os.getpid()}"
    with private_redis(tmp_path, 19820, 19840) as redis:
        monkeypatch.setitem(current_app.conf, "broker_url", redis.url)
        probe = KeptBrokerProbe()
        try:
            assert probe.waiting(queues=[queue, "never-declared"], timeout=1) == {queue: 0, "never-declared": 0}
            kept, kept_channel = probe._conn, probe._channel
            with current_app.connection_for_write(redis.url) as conn:  # not the app's pool: another broker
                for i in range(2):
                    current_app.send_task("listings.tasks.search_upsert", kwargs={"listing_id": i}, queue=queue,
                                          connection=conn)
            # then the second read counts them over the same connection
            assert probe.waiting(queues=[queue], timeout=1) == {queue: 2}
            assert probe._conn is kept and probe._channel is kept_channel  # Redis: an undeclared queue keeps it
            # when the broker dies: the error is raised, the connection dropped
            redis.stop()
            with pytest.raises(Exception):
                probe.waiting(queues=[queue], timeout=1)
            assert probe._conn is None
            # and once it is back (empty: it lost its lists), the probe connects again
            redis.start()
            assert probe.waiting(queues=[queue], timeout=1) == {queue: 0}
            assert probe._conn is not None and probe._conn is not kept
        finally:
            probe.close()
