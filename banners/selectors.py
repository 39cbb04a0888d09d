"""Banner reads, including the cached public feed."""
from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.cache import cache_get, cache_set

from .models import Banner, BannerStatus, Placement

CACHE_KEY = "dgt:banners:public:{placement}"


def banner_list() -> QuerySet[Banner]:
    """Every banner (admin list), highest priority first, then newest."""
    return Banner.objects.select_related("created_by").order_by("-priority", "-created_at", "-id")


def banners_active(*, placement: str, at: datetime | None = None) -> QuerySet[Banner]:
    """Active banners of `placement` whose schedule covers `at` (default now): start_date <= at and
    (no end_date or at < end_date); by priority desc, then newest."""
    at = at or timezone.now()
    return (Banner.objects.filter(placement=placement, status=BannerStatus.ACTIVE, start_date__lte=at)
            .filter(Q(end_date__isnull=True) | Q(end_date__gt=at))
            .order_by("-priority", "-created_at", "-id"))


def _next_edge(placement: str, now: datetime) -> datetime | None:
    """The next moment the feed of `placement` changes by itself (a start or an end)."""
    qs = Banner.objects.filter(placement=placement, status=BannerStatus.ACTIVE)
    starts = qs.filter(start_date__gt=now).order_by("start_date").values_list("start_date", flat=True).first()
    ends = qs.filter(end_date__gt=now).order_by("end_date").values_list("end_date", flat=True).first()
    edges = [e for e in (starts, ends) if e is not None]
    return min(edges) if edges else None


def banner_feed(*, placement: str, serialize) -> list[dict]:
    """The public feed of `placement` as a list of dicts (`serialize(queryset) -> list`), cached.

    Cached for BANNER_CACHE_SECONDS but never past the next start or end of a banner of that
    placement, so a scheduled banner appears and disappears on time; every banner change drops
    the cache (banners.services.feed_cache_drop).
    """
    key = CACHE_KEY.format(placement=placement)
    now = timezone.now()
    cached = cache_get(key)  # a cache outage is a miss (core.cache)
    # The entry carries its own deadline: the cache's TTL runs on the cache server's clock, the
    # schedule on ours, and a feed must never be served past a start or end it did not include.
    if cached is not None and now.timestamp() < cached["validUntil"]:
        return cached["data"]
    data = serialize(banners_active(placement=placement, at=now))
    timeout = settings.BANNER_CACHE_SECONDS
    edge = _next_edge(placement, now)
    if edge is not None:
        timeout = max(1, min(timeout, int((edge - now).total_seconds())))
    valid_until = now.timestamp() + timeout if edge is None else min(now.timestamp() + timeout, edge.timestamp())
    cache_set(key, {"validUntil": valid_until, "data": data}, timeout)
    return data


def feed_cache_keys() -> list[str]:
    return [CACHE_KEY.format(placement=p) for p in Placement.values]
