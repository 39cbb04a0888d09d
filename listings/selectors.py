"""Listing reads: the owner's listings, the moderation queue and a seller's moderation history."""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Window
from django.db.models.functions import Cast
from django.utils import timezone

from audit.models import AuditLog
from core.compiled import CompiledRows

from .models import Listing, ListingStatus

DECISION_ACTIONS = ("listing.approve", "listing.reject")


def listing_list_for_owner(*, owner) -> QuerySet[Listing]:
    """The owner's listings, newest first."""
    return Listing.objects.filter(owner=owner).order_by("-id")


# The columns `listings.serializers.listing_out` renders, by attribute name.
LISTING_OUT_FIELDS = ("id", "owner_id", "title", "description", "category", "price", "status", "reason",
                      "approved_at", "expires_at", "expired_at", "reminder_sent_3d", "reminder_sent_1d",
                      "created_at", "updated_at")


class ListingRow(namedtuple("ListingRow", LISTING_OUT_FIELDS)):
    """One listing's rendered columns (LISTING_OUT_FIELDS, converted as the model's fields
    convert them: price a Decimal in INR, times aware UTC); `pk` as on the model."""

    __slots__ = ()

    @property
    def pk(self) -> int:
        return self.id


_OWNER_PAGE = CompiledRows(Listing, lambda owner_id: Listing.objects.filter(owner_id=owner_id).order_by("-id")
                           .annotate(_window_count=Window(Count("*"))).values_list(*LISTING_OUT_FIELDS, "_window_count"))


class OwnerListingRows:
    """The owner's listings, newest first (as `listing_list_for_owner`), for the paginator of
    GET /api/listings (core.api.pagination.WindowCountPaginator): a page and the total in one
    statement compiled once per process (core.compiled.CompiledRows), rows as `ListingRow`."""

    def __init__(self, owner_id: int):
        self.owner_id = owner_id

    def count(self) -> int:
        """All of the owner's listings (the paginator asks only when a page came back empty)."""
        return Listing.objects.filter(owner_id=self.owner_id).count()

    def __getitem__(self, window: slice) -> list[ListingRow]:
        """Rows `window.start:window.stop` (Django's Paginator slices its object list)."""
        start = window.start or 0
        return self.page_rows(start, max(0, window.stop - start))[0]

    def page_rows(self, offset: int, limit: int) -> tuple[list[ListingRow], int | None]:
        """(rows offset..offset+limit as ListingRow, the count of all rows; None when no row)."""
        rows = _OWNER_PAGE.rows(self.owner_id, limit=limit, offset=offset)
        if not rows:
            return [], None
        return [ListingRow._make(row[:-1]) for row in rows], rows[0][-1]


@dataclass(frozen=True)
class QueueFilters:
    """Filters of the moderation queue (docs/moderation.md). Prices in INR; None: no bound.
    `new_sellers`: owners who joined less than MODERATION_NEW_SELLER_DAYS ago;
    `earlier_rejections`: owners with at least one rejection in the audit log."""

    category: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    new_sellers: bool = False
    earlier_rejections: bool = False


def _rejections_of_owner():
    """Exists() of a `listing.reject` audit row on any listing of the outer row's owner."""
    owner_listing_ids = Listing.objects.filter(owner=OuterRef(OuterRef("owner"))).annotate(
        sid=Cast("id", CharField())).values("sid")
    return Exists(AuditLog.objects.filter(action="listing.reject", entity_type="listing",
                                          entity_id__in=owner_listing_ids))


def moderation_queue(*, filters: QueueFilters | None = None, now: datetime | None = None) -> QuerySet[Listing]:
    """Pending listings, oldest first (created_at, then id), with owner and claimant joined.

    A listing's age is `now - created_at`; its claim is live while `claimed_until > now`
    (Listing.live_claimant_id). Uses the partial index listing_pending_queue_idx.
    """
    filters = filters or QueueFilters()
    qs = (Listing.objects.filter(status=ListingStatus.PENDING).select_related("owner", "claimed_by")
          .order_by("created_at", "id"))
    if filters.category:
        qs = qs.filter(category=filters.category)
    if filters.price_min is not None:
        qs = qs.filter(price__gte=filters.price_min)
    if filters.price_max is not None:
        qs = qs.filter(price__lte=filters.price_max)
    if filters.new_sellers:
        since = (now or timezone.now()) - timedelta(days=settings.MODERATION_NEW_SELLER_DAYS)
        qs = qs.filter(owner__date_joined__gte=since)
    if filters.earlier_rejections:
        qs = qs.filter(_rejections_of_owner())
    return qs


def moderation_next(*, actor, now: datetime, skip_id: int | None = None) -> Listing | None:
    """The oldest pending listing nobody holds a live claim on at `now`, not owned by `actor`
    (who may not moderate it) and other than `skip_id` (the one being skipped)."""
    qs = (moderation_queue(now=now).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
          .exclude(owner=actor))
    if skip_id is not None:
        qs = qs.exclude(pk=skip_id)
    return qs.first()


def owner_decisions(*, owner_ids, limit: int = 10) -> dict[int, list[AuditLog]]:
    """{owner id: their listings' latest approvals and rejections (AuditLog rows, newest first,
    at most `limit` each, with `listing_title` and the moderator joined)} in two queries."""
    titles = {str(pk): (owner_id, title) for pk, owner_id, title in
              Listing.objects.filter(owner_id__in=owner_ids).values_list("pk", "owner_id", "title")}
    out: dict[int, list[AuditLog]] = {owner_id: [] for owner_id in owner_ids}
    if not titles:
        return out
    rows = (AuditLog.objects.filter(entity_type="listing", action__in=DECISION_ACTIONS, entity_id__in=list(titles))
            .select_related("user").order_by("-id"))
    for row in rows.iterator():
        owner_id, title = titles[row.entity_id]
        if len(out[owner_id]) < limit:
            row.listing_title = title
            out[owner_id].append(row)
    return out


def decisions_today(*, now: datetime | None = None) -> dict[str, int]:
    """{moderator username: approvals + rejections since local midnight (TIME_ZONE)}, from the audit log."""
    local = timezone.localtime(now or timezone.now())
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (AuditLog.objects.filter(action__in=DECISION_ACTIONS, created_at__gte=midnight)
            .values("user__username").annotate(n=Count("id")).order_by("user__username"))
    return {row["user__username"]: row["n"] for row in rows}


def oldest_pending_created_at() -> datetime | None:
    """`created_at` of the oldest pending listing, None when the queue is empty."""
    return moderation_queue().values_list("created_at", flat=True).first()
