from django.urls import path

from . import api
from .search.api import ListingSearchView

urlpatterns = [
    path("listings", api.ListingListCreateView.as_view(), name="listing-list"),
    path("listings/search", ListingSearchView.as_view(), name="listing-search"),
    path("listings/<int:listing_id>", api.ListingDetailView.as_view(), name="listing-detail"),
    path("listings/<int:listing_id>/approve", api.ListingApproveView.as_view(), name="listing-approve"),
    path("listings/<int:listing_id>/reject", api.ListingRejectView.as_view(), name="listing-reject"),
]
