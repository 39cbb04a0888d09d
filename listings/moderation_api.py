"""Moderation API reads for the admin app: the queue and the canned reasons (docs/moderation.md)."""
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from core.api.pagination import Pagination
from core.api.permissions import IsModerator

from .models import CannedReason
from .selectors import QueueFilters, moderation_queue
from .serializers import CannedReasonSerializer, QueueFilterSerializer, QueueItemSerializer


class ModerationQueueView(APIView):
    """`GET /api/moderation/queue?category=&minPrice=&maxPrice=&newSellers=&earlierRejections=`:
    pending listings oldest first, paginated, each with `ageSeconds`, `claimedBy`, `claimedUntil`."""

    permission_classes = [IsModerator]

    @extend_schema(parameters=[QueueFilterSerializer], responses=QueueItemSerializer(many=True))
    def get(self, request):
        query = QueueFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        now = timezone.now()
        filters = QueueFilters(category=q.get("category"), price_min=q.get("minPrice"), price_max=q.get("maxPrice"),
                               new_sellers=q["newSellers"], earlier_rejections=q["earlierRejections"])
        paginator = Pagination()
        page = paginator.paginate_queryset(moderation_queue(filters=filters, now=now), request, view=self)
        return paginator.get_paginated_response(QueueItemSerializer(page, many=True, context={"now": now}).data)


class CannedReasonListView(APIView):
    """`GET /api/moderation/reasons`: the active canned rejection reasons in picker order, paginated."""

    permission_classes = [IsModerator]

    @extend_schema(responses=CannedReasonSerializer(many=True))
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(CannedReason.objects.filter(active=True), request, view=self)
        return paginator.get_paginated_response(CannedReasonSerializer(page, many=True).data)
