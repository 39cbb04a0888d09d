"""`GET /api/admin/queues` (admins) and `GET /metrics` (METRICS_ALLOWED_IPS or admins)."""
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import JWTAuthentication
from core.api.permissions import IsAdmin

from .metrics import ip_allowed, metrics_text
from .queues import queues_overview


class QueuesView(APIView):
    """Per queue {waiting, active, scheduled, completed, failed} + outbox {pending, sent, failed}.
    Takes up to about twice QUEUES_INSPECT_TIMEOUT_SECONDS when no worker answers."""

    permission_classes = [IsAdmin]

    @extend_schema(responses=dict)
    def get(self, request):
        return Response(queues_overview())


class MetricsAccess(BasePermission):
    """Prometheus scrapers from METRICS_ALLOWED_IPS (the client address as audit sees it: REMOTE_ADDR
    unless a trusted proxy forwarded it) and signed-in admins (JWT or Django admin session)."""

    message = "Metrics are for the monitoring network and admins."

    def has_permission(self, request, view) -> bool:
        if ip_allowed(request.META):
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


class MetricsView(APIView):
    """Prometheus text exposition: django-prometheus request metrics + dgt's gauges (ops.monitoring.metrics)."""

    authentication_classes = [JWTAuthentication, SessionAuthentication]
    permission_classes = [MetricsAccess]
    schema = None

    def get(self, request):
        body, content_type = metrics_text()
        return HttpResponse(body, content_type=content_type)
