"""Fixtures of the moderation tests: a second moderator, canned reasons, pending listings of a given age."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from listings.models import CannedReason, Listing

from .factories import ListingFactory


@pytest.fixture
def moderator2(make_user):
    return make_user(Role.MODERATOR, username="moderator2", is_staff=True)


@pytest.fixture
def canned(db):
    return CannedReason.objects.create(code="poor-photos", title="Poor photos", text="Please add clear photos.",
                                       position=1)


@pytest.fixture
def make_pending(seller):
    """make_pending(age=timedelta, **fields): a pending listing created `age` ago (created_at is auto_now_add)."""
    def make(age: timedelta = timedelta(0), **fields) -> Listing:
        fields.setdefault("owner", seller)
        listing = ListingFactory(**fields)
        Listing.objects.filter(pk=listing.pk).update(created_at=timezone.now() - age)
        listing.refresh_from_db()
        return listing

    return make
