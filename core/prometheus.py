"""django-prometheus' request metrics, recorded at less cost per request.

The same metrics with the same labels as django_prometheus.middleware (docs/jobs-and-monitoring.md),
except that each labelled child (e.g. responses by status, view and method) is looked up through
prometheus_client's `labels()` (validation, a lock, a dict) once per process and then kept: the
after-middleware labels eight metrics per request (docs/benchmarks.md, "Per-request overhead").
"""
from __future__ import annotations

from django_prometheus.middleware import PrometheusAfterMiddleware as _PrometheusAfterMiddleware

# Children kept per process at most; past it (a client sending made-up methods) labels() as before.
MAX_CHILDREN = 10_000


class PrometheusAfterMiddleware(_PrometheusAfterMiddleware):
    """django-prometheus' after-middleware with the labelled children kept per process."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.children: dict[tuple, object] = {}

    def label_metric(self, metric, request, response=None, **labels):
        if not labels:
            return metric
        key = (id(metric), *labels.items())
        child = self.children.get(key)
        if child is None:
            child = metric.labels(**labels)
            if len(self.children) < MAX_CHILDREN:
                self.children[key] = child
        return child
