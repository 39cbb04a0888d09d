"""Banners API: admin CRUD under /api/settings/banners and the public feed /api/banners."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsAdmin
from core.db import lag_tolerant
from core.api.pagination import paginated_response

from . import services
from .selectors import banner_feed, banner_list
from .serializers import BannerSerializer, PlacementQuerySerializer, PublicBannerSerializer


class BannerListCreateView(APIView):
    """`GET /api/settings/banners` (paginated) and `POST` (create): admins."""

    permission_classes = [IsAdmin]

    @extend_schema(responses=BannerSerializer(many=True))
    def get(self, request):
        return paginated_response(request, banner_list(), BannerSerializer, view=self)

    @extend_schema(request=BannerSerializer, responses={201: BannerSerializer})
    def post(self, request):
        data = BannerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        banner = services.banner_create(actor=request.user, **data.validated_data)
        return Response(BannerSerializer(banner).data, status=status.HTTP_201_CREATED)


class BannerDetailView(APIView):
    """`GET/PATCH/DELETE /api/settings/banners/{id}`: admins."""

    permission_classes = [IsAdmin]

    @extend_schema(responses=BannerSerializer)
    def get(self, request, banner_id: int):
        return Response(BannerSerializer(get_object_or_404(banner_list(), pk=banner_id)).data)

    @extend_schema(request=BannerSerializer, responses=BannerSerializer)
    def patch(self, request, banner_id: int):
        instance = get_object_or_404(banner_list(), pk=banner_id)
        data = BannerSerializer(instance, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        banner = services.banner_update(banner_id=banner_id, actor=request.user, changes=data.validated_data)
        return Response(BannerSerializer(banner).data)

    @extend_schema(responses={204: None})
    def delete(self, request, banner_id: int):
        services.banner_delete(banner_id=banner_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PublicBannerView(APIView):
    """`GET /api/banners?placement=home|category|search`: anyone; active now, by priority desc,
    then newest; served from the cache (dropped on every change). Not paginated: a handful."""

    permission_classes = [AllowAny]
    authentication_classes = []  # public: a stale or foreign token must not turn this into a 401

    @extend_schema(parameters=[OpenApiParameter("placement", str, required=True, enum=["home", "category", "search"])],
                   responses=PublicBannerSerializer(many=True))
    @lag_tolerant  # the public feed may lag (replica); docs/operations.md
    def get(self, request):
        query = PlacementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = banner_feed(placement=query.validated_data["placement"],
                           serialize=lambda qs: list(PublicBannerSerializer(qs, many=True).data))
        return Response({"results": data})
