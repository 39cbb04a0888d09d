"""`/healthz`, `/readyz` (django-health-check) and `/metrics` (django-prometheus + dgt gauges)."""
import json
import os
import subprocess
import sys
import types
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from accounts.models import Role
from notifications.models import Notification
from outbox.models import EventOutbox, OutboxStatus

pytestmark = pytest.mark.django_db
DOWN = "redis://127.0.0.1:19899/0"  # a port of this engineer's range where nothing listens


def test_healthz_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_ok(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    expected = {"database": "ok", "cache": "ok", "broker": "ok"} | ({"redis": "ok"} if settings.REDIS_URL else {})
    assert response.json() == {"status": "ok", "checks": expected}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_names_redis_cache_and_broker_when_down(client, settings, monkeypatch):
    settings.REDIS_URL = DOWN
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": DOWN,
                                   "OPTIONS": {"socket_connect_timeout": 1}}}
    monkeypatch.setitem(current_app.conf, "broker_url", DOWN)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "Unavailable: Unable to connect to Redis: Connection Error"
    assert body["checks"]["broker"].startswith("Unavailable: Broker unreachable (OperationalError: Error 111 connecting to 127.0.0.1:19899")
    assert body["checks"]["cache"] != "ok"


@pytest.mark.slow  # a Django process of its own
def test_readyz_names_the_database_when_down(tmp_path):
    # a separate process whose DATABASE_URL points at a port where no PostgreSQL listens
    script = (
        "import django, json; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/readyz')\n"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env.update(DATABASE_URL="postgres://postgres@127.0.0.1:19898/nowhere", DJANGO_SETTINGS_MODULE="dgt.settings",
               DEBUG="1", DGT_TESTING="1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 503
    assert result["body"]["status"] == "unavailable"
    assert result["body"]["checks"]["database"].startswith("Unavailable: connection failed")
    assert result["body"]["checks"]["cache"] == "ok" and result["body"]["checks"]["broker"] == "ok"


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_metrics_for_the_monitoring_network(client, seller):
    # given outbox rows (one pending for 10 minutes) and notifications by channel
    now = timezone.now()
    for status in (OutboxStatus.PENDING, OutboxStatus.FAILED, OutboxStatus.FAILED, OutboxStatus.SENT):
        EventOutbox.objects.create(channel="c", group="admin", payload={}, status=status, next_attempt_at=now)
    EventOutbox.objects.filter(status=OutboxStatus.PENDING).update(created_at=now - timedelta(minutes=10))
    for i, (channel, status) in enumerate([("push", "sent"), ("push", "sent"), ("sms", "failed"), ("email", "sent")]):
        Notification.objects.create(user=seller, template_key="listing_approved", channel=channel, status=status,
                                    dedupe_key=f"k{i}")
    client.get("/healthz")  # a request for the latency histogram

    response = client.get("/metrics")  # the test client comes from 127.0.0.1, allowed by default

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert metric(text, 'dgt_outbox_rows{status="pending"}') == 1
    assert metric(text, 'dgt_outbox_rows{status="failed"}') == 2
    assert 600 <= metric(text, "dgt_outbox_oldest_pending_age_seconds") < 3600
    assert metric(text, 'dgt_notifications_last_hour{channel="push",status="sent"}') == 2
    assert metric(text, 'dgt_notifications_last_hour{channel="sms",status="failed"}') == 1
    assert metric(text, 'dgt_queue_waiting{queue="search"}') is not None
    assert metric(text, "dgt_broker_up") == 1
    assert 'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="healthz"}' in text


class FakeMismatchModel:
    """Stands in for wallet.ReconciliationMismatch: `objects.count()` and a detected_at filter."""

    class objects:  # noqa: N801
        @staticmethod
        def count():
            return 5

        @staticmethod
        def filter(**lookups):
            assert list(lookups) == ["detected_at__gte"]
            return types.SimpleNamespace(count=lambda: 2)


def test_reconciliation_gauges_follow_the_wallet_model(client, monkeypatch):
    from ops.monitoring import metrics as metrics_module

    text = client.get("/metrics").content.decode()
    model = metrics_module.reconciliation_mismatch_model()
    if model is None:  # the wallet app has no such model: no gauge that could fire falsely
        assert "dgt_reconciliation_mismatches" not in text
    else:  # read from the real table
        assert metric(text, "dgt_reconciliation_mismatches") == model.objects.count()
        assert metric(text, "dgt_reconciliation_mismatches_last_day") == 0
    monkeypatch.setattr(metrics_module, "reconciliation_mismatch_model", lambda: FakeMismatchModel)
    text = client.get("/metrics").content.decode()
    assert metric(text, "dgt_reconciliation_mismatches") == 5
    assert metric(text, "dgt_reconciliation_mismatches_last_day") == 2


@pytest.mark.parametrize("role, remote, expected", [
    (None, "203.0.113.5", 401), (Role.USER, "203.0.113.5", 403), (Role.MODERATOR, "203.0.113.5", 403),
    (Role.ADMIN, "203.0.113.5", 200), (None, "10.1.2.3", 200),
])
def test_metrics_access(api, api_for, make_user, settings, role, remote, expected):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    client = api if role is None else api_for(make_user(role))
    assert client.get("/metrics", REMOTE_ADDR=remote).status_code == expected


def test_metrics_ignores_forged_forwarded_for(api, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.TRUSTED_PROXIES = []
    assert api.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 401


def test_admin_session_may_read_metrics(client, admin_user, settings):
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 401  # an anonymous session outside METRICS_ALLOWED_IPS
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 200
