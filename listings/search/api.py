"""`GET /api/listings/search?q=&category=`: public search of live listings."""
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.api.fields import MoneyField
from core.db import lag_tolerant
from core.api.pagination import Pagination, paginated_response
from listings.models import Listing

from .selectors import listing_search


class SearchPagination(Pagination):
    """Search pages are smaller than admin lists: at most 50 results a page."""

    max_page_size = 50


class SearchInputSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, default="", max_length=settings.SEARCH_MAX_QUERY_LENGTH)
    category = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_category(self, value: str) -> str:
        if value and value not in settings.LISTING_CATEGORIES:
            raise serializers.ValidationError(f"One of: {', '.join(settings.LISTING_CATEGORIES)}.")
        return value


class ListingSearchResultSerializer(serializers.ModelSerializer):
    """A live listing as buyers see it: no moderation reason, no reminder flags."""

    ownerId = serializers.IntegerField(source="owner_id", read_only=True)
    price = MoneyField(positive=False)
    approvedAt = serializers.DateTimeField(source="approved_at", read_only=True)
    expiresAt = serializers.DateTimeField(source="expires_at", read_only=True)

    class Meta:
        model = Listing
        fields = ["id", "ownerId", "title", "description", "category", "price", "approvedAt", "expiresAt"]
        read_only_fields = fields


class ListingSearchView(APIView):
    """Public: approved listings are what the marketplace shows to anyone, signed in or not.
    A token, when sent, must still be valid (401 otherwise). Paginated, at most 50 a page."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("q", str), OpenApiParameter("category", str),
                    OpenApiParameter("page", int), OpenApiParameter("pageSize", int)],
        responses=ListingSearchResultSerializer(many=True),
    )
    @lag_tolerant  # the search index may lag the primary by the replica's delay (docs/operations.md)
    def get(self, request):
        data = SearchInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return paginated_response(request, listing_search(**data.validated_data), ListingSearchResultSerializer,
                                  view=self, pagination_class=SearchPagination)
