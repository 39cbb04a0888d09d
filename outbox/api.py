"""Admin API of the outbox: `GET /api/admin/outbox?status=`, `POST /api/admin/outbox/{id}/retry`."""
import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsAdmin

from . import retry
from .models import EventOutbox, OutboxStatus
from .selectors import outbox_list
from .serializers import OutboxRowSerializer


class OutboxFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(field_name="status", choices=OutboxStatus.choices)

    class Meta:
        model = EventOutbox
        fields = []


class OutboxListView(generics.ListAPIView):
    """Outbox rows, newest first, paginated; `?status=pending|sent|failed`. Admins only."""

    permission_classes = [IsAdmin]
    serializer_class = OutboxRowSerializer
    filterset_class = OutboxFilter

    def get_queryset(self):
        return outbox_list()


class OutboxRetryView(APIView):
    """Put a failed row back to pending; the relay sends it. 404 unknown, 409 not failed."""

    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses=OutboxRowSerializer)
    def post(self, request, outbox_id: int):
        row = retry.outbox_retry(outbox_id=outbox_id, actor=request.user)
        row.refresh_from_db()
        return Response(OutboxRowSerializer(row).data)
