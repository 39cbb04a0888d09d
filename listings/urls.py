from django.urls import path

from . import api, moderation_api
from .search.api import ListingSearchView

urlpatterns = [
    path("listings", api.ListingListCreateView.as_view(), name="listing-list"),
    path("listings/search", ListingSearchView.as_view(), name="listing-search"),
    path("listings/<int:listing_id>", api.ListingDetailView.as_view(), name="listing-detail"),
    path("listings/<int:listing_id>/approve", api.ListingApproveView.as_view(), name="listing-approve"),
    path("listings/<int:listing_id>/reject", api.ListingRejectView.as_view(), name="listing-reject"),
    path("listings/<int:listing_id>/claim", api.ListingClaimView.as_view(), name="listing-claim"),
    path("listings/<int:listing_id>/release", api.ListingReleaseView.as_view(), name="listing-release"),
    path("moderation/queue", moderation_api.ModerationQueueView.as_view(), name="moderation-queue"),
    path("moderation/reasons", moderation_api.CannedReasonListView.as_view(), name="moderation-reasons"),
]
