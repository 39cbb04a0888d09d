"""`POST /api/analytics/events`: validate a batch, queue it, answer 202."""
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.ratelimit import ratelimit

from .serializers import EventBatchSerializer
from .services import events_enqueue


class AnalyticsEventsView(APIView):
    """Signed-in users (any role) send {events: [{name, ts, properties?}, ...]} (1..500).

    A bad item answers 400 naming it (`events.3.ts`) and nothing of the batch is queued.
    Accepted batches are inserted by the `analytics` queue; the answer is 202 {batchId, accepted}.
    """

    @extend_schema(request=EventBatchSerializer,
                   responses={202: inline_serializer("AnalyticsAccepted", {"batchId": serializers.UUIDField(),
                                                                           "accepted": serializers.IntegerField()})})
    @ratelimit(rate="analytics_ingest", key="ip")
    def post(self, request):
        data = EventBatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = events_enqueue(user_id=request.user.pk, events=data.validated_data["events"])
        return Response(result, status=status.HTTP_202_ACCEPTED)
