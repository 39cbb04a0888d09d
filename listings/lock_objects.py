"""Row-locking querysets of the listings app (saleor's lock_objects convention)."""
from __future__ import annotations

from .models import Listing


def listing_qs_select_for_update():
    return Listing.objects.select_for_update(of=("self",))
