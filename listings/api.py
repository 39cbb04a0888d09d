"""Listings API: owner CRUD and moderation. Views validate, call one service, serialize."""
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsModerator
from core.api.pagination import WindowCountPagination

from . import claims, services
from .selectors import OwnerListingRows, listing_list_for_owner
from .serializers import (
    ApproveInputSerializer, ClaimSerializer, ListingSerializer, RejectInputSerializer, listing_out,
)


class ListingListCreateView(APIView):
    """`GET /api/listings` (own, paginated), `POST /api/listings` (creates a pending listing)."""

    @extend_schema(responses=ListingSerializer(many=True))
    def get(self, request):
        paginator = WindowCountPagination()  # count and page in one query, compiled once
        page = paginator.paginate_queryset(OwnerListingRows(request.user.pk), request, view=self)
        tz = timezone.get_current_timezone()
        return paginator.get_paginated_response([listing_out(row, tz) for row in page])

    @extend_schema(request=ListingSerializer, responses={201: ListingSerializer})
    def post(self, request):
        data = ListingSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing = services.listing_create(owner=request.user, **data.validated_data)
        return Response(ListingSerializer(listing).data, status=status.HTTP_201_CREATED)


class ListingDetailView(APIView):
    """`GET/PATCH/DELETE /api/listings/{id}`: the owner's own listing (404 for anyone else's)."""

    @extend_schema(responses=ListingSerializer)
    def get(self, request, listing_id: int):
        return Response(ListingSerializer(get_object_or_404(listing_list_for_owner(owner=request.user), pk=listing_id)).data)

    @extend_schema(request=ListingSerializer, responses=ListingSerializer)
    def patch(self, request, listing_id: int):
        data = ListingSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        listing = services.listing_update(listing_id=listing_id, owner=request.user, changes=data.validated_data)
        return Response(ListingSerializer(listing).data)

    @extend_schema(responses={204: None})
    def delete(self, request, listing_id: int):
        services.listing_delete(listing_id=listing_id, owner=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ListingApproveView(APIView):
    """`POST /api/listings/{id}/approve` {reason?, expiryDays 1..365 = 30}: moderators and admins."""

    permission_classes = [IsModerator]

    @extend_schema(request=ApproveInputSerializer, responses=ListingSerializer)
    def post(self, request, listing_id: int):
        data = ApproveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing = services.listing_approve(listing_id=listing_id, actor=request.user, reason=data.validated_data["reason"],
                                           expiry_days=data.validated_data["expiryDays"])
        return Response(listing_out(listing))


class ListingRejectView(APIView):
    """`POST /api/listings/{id}/reject` {reason?, reasonId?} (at least one): moderators and admins."""

    permission_classes = [IsModerator]

    @extend_schema(request=RejectInputSerializer, responses=ListingSerializer)
    def post(self, request, listing_id: int):
        data = RejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing = services.listing_reject(listing_id=listing_id, actor=request.user, reason=data.validated_data["reason"],
                                          reason_id=data.validated_data["reasonId"])
        return Response(ListingSerializer(listing).data)


class ListingClaimView(APIView):
    """`POST /api/listings/{id}/claim` -> {listingId, claimedBy, claimedUntil}; 409 `listing_claimed`."""

    permission_classes = [IsModerator]

    @extend_schema(request=None, responses=ClaimSerializer)
    def post(self, request, listing_id: int):
        listing = claims.listing_claim(listing_id=listing_id, actor=request.user)
        return Response(ClaimSerializer(listing, context={"now": timezone.now()}).data)


class ListingReleaseView(APIView):
    """`POST /api/listings/{id}/release` -> {listingId, claimedBy: null, claimedUntil: null}: the
    holder, or an admin for anyone's claim; releasing an unclaimed listing is a no-op."""

    permission_classes = [IsModerator]

    @extend_schema(request=None, responses=ClaimSerializer)
    def post(self, request, listing_id: int):
        listing = claims.listing_release(listing_id=listing_id, actor=request.user)
        return Response(ClaimSerializer(listing, context={"now": timezone.now()}).data)
