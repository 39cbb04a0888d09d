"""Prometheus metrics: what an on-call engineer alerts on.

django-prometheus supplies the request metrics (e.g. `django_http_requests_latency_seconds_by_view_method`
by view and method). dgt adds gauges read from the database and the broker at scrape time:

* `dgt_outbox_rows{status}` (pending, failed) and `dgt_outbox_oldest_pending_age_seconds`
* `dgt_queue_waiting{queue}` and `dgt_broker_up` (1/0)
* `dgt_tasks_last_hour{queue,state}` (completed/failed, django-celery-results)
* `dgt_notifications_last_hour{channel,status}` (notifications.Notification)
* `dgt_reconciliation_mismatches` (all recorded) and `dgt_reconciliation_mismatches_last_day`:
  only when the wallet app has its `ReconciliationMismatch` model (looked up by name, so this
  module does not import the wallet); absent otherwise.

With gunicorn set PROMETHEUS_MULTIPROC_DIR so request metrics of every worker are merged
(prometheus_client multiprocess mode); dgt's gauges are computed per scrape either way.
"""
from __future__ import annotations

import ipaddress
import logging
import os
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.context import client_ip
from notifications.models import Notification
from outbox.models import OutboxStatus
from outbox.selectors import outbox_counts

from .queues import queue_waiting, task_results_by_queue

log = logging.getLogger(__name__)


def ip_allowed(meta: dict) -> bool:
    """Whether the request's client address is in METRICS_ALLOWED_IPS (addresses or CIDR ranges)."""
    addr = client_ip(meta, settings.TRUSTED_PROXIES)
    if not addr:
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            if ip in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def reconciliation_mismatch_model():
    """`wallet.ReconciliationMismatch` when the wallet app has it (payouts whose gateway state
    contradicts ours, recorded once each, never deleted), else None."""
    try:
        return apps.get_model("wallet", "ReconciliationMismatch")
    except LookupError:
        return None


class DgtCollector(Collector):
    """Gauges computed at scrape time (a few grouped queries and one broker round trip)."""

    def collect(self):
        now = timezone.now()
        outbox = outbox_counts()
        rows = GaugeMetricFamily("dgt_outbox_rows", "Outbox rows by status (pending, failed).", labels=["status"])
        for status in (OutboxStatus.PENDING, OutboxStatus.FAILED):
            rows.add_metric([status], outbox[status])
        yield rows
        oldest = outbox["oldestPendingAt"]
        yield GaugeMetricFamily("dgt_outbox_oldest_pending_age_seconds",
                                "Age of the oldest pending outbox row (0 when none).",
                                value=(now - oldest).total_seconds() if oldest else 0.0)

        waiting = GaugeMetricFamily("dgt_queue_waiting", "Messages waiting in the broker per queue.", labels=["queue"])
        try:
            depths = queue_waiting(queues=settings.QUEUES, timeout=settings.BROKER_CHECK_TIMEOUT_SECONDS)
            up = 1
        except Exception as exc:
            log.warning("metrics: broker unreachable: %s", exc)
            depths, up = {}, 0
        for queue, n in depths.items():
            waiting.add_metric([queue], n)
        yield waiting
        yield GaugeMetricFamily("dgt_broker_up", "1 when the Celery broker answered this scrape.", value=up)

        tasks = GaugeMetricFamily("dgt_tasks_last_hour", "Finished Celery tasks in the last hour.",
                                  labels=["queue", "state"])
        for queue, counts in sorted(task_results_by_queue(since=now - timedelta(hours=1)).items()):
            for state, n in counts.items():
                tasks.add_metric([queue, state], n)
        yield tasks

        sent = GaugeMetricFamily("dgt_notifications_last_hour", "Notifications created in the last hour.",
                                 labels=["channel", "status"])
        for row in (Notification.objects.filter(created_at__gte=now - timedelta(hours=1))
                    .values("channel", "status").annotate(n=Count("id")).order_by("channel", "status")):
            sent.add_metric([row["channel"], row["status"]], row["n"])
        yield sent

        mismatch = reconciliation_mismatch_model()
        if mismatch is not None:
            yield GaugeMetricFamily("dgt_reconciliation_mismatches",
                                    "Payout reconciliation mismatches ever recorded (wallet).",
                                    value=mismatch.objects.count())
            yield GaugeMetricFamily("dgt_reconciliation_mismatches_last_day",
                                    "Payout reconciliation mismatches recorded in the last 24 h (wallet).",
                                    value=mismatch.objects.filter(detected_at__gte=now - timedelta(days=1)).count())


def metrics_text() -> tuple[bytes, str]:
    """The exposition text: process/request metrics (merged across processes in multiprocess
    mode) followed by dgt's gauges. Returns (body, content type)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    domain = CollectorRegistry(auto_describe=False)
    domain.register(DgtCollector())
    return generate_latest(base) + generate_latest(domain), CONTENT_TYPE_LATEST
