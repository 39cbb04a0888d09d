from django.db.models import QuerySet

from .models import Listing


def listing_list_for_owner(*, owner) -> QuerySet[Listing]:
    """The owner's listings, newest first."""
    return Listing.objects.filter(owner=owner).order_by("-id")
