"""factory-boy factories of the listings app: `ListingFactory` (a pending listing)."""
from __future__ import annotations

from decimal import Decimal

import factory

from listings.models import Listing

from ..accounts.factories import UserFactory


class ListingFactory(factory.django.DjangoModelFactory):
    """A pending listing priced INR 1200.00, owned by a new user unless `owner` is given."""

    class Meta:
        model = Listing

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Listing {n}")
    description = "A fine item."
    category = "electronics"
    price = Decimal("1200.00")
