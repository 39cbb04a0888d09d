"""The search query: live listings matching `q`, best first."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from listings.models import Listing, ListingStatus


def listing_search(*, q: str = "", category: str = "") -> QuerySet[Listing]:
    """Approved listings whose expiresAt is in the future and that have a search document,
    matching `q` (all of them when `q` is blank), in `category` when given.

    Ordered by relevance, then newest approval. PostgreSQL: `websearch_to_tsquery` (quotes,
    `or`, `-term`) against the document's tsvector, ranked by ts_rank with title (weight A)
    above description (weight B). SQLite: every word must occur in the title or description
    (case-insensitive containment); a word in the title scores 2, in the description 1.
    Each result is annotated with `rank` (float).
    """
    qs = Listing.objects.filter(
        status=ListingStatus.APPROVED, expires_at__gt=timezone.now(), search_document__isnull=False
    )
    if category:
        qs = qs.filter(search_document__category=category)
    q = q.strip()
    if not q:
        return qs.annotate(rank=Value(0.0, output_field=FloatField())).order_by("-approved_at", "-id")
    if connection.vendor == "postgresql":
        query = SearchQuery(q, search_type="websearch", config=settings.SEARCH_CONFIG)
        qs = qs.filter(search_document__search_vector=query).annotate(
            rank=SearchRank(F("search_document__search_vector"), query)
        )
    else:
        words = q.split()
        for word in words:
            qs = qs.filter(Q(search_document__title__icontains=word) | Q(search_document__description__icontains=word))
        score = sum(
            (Case(When(search_document__title__icontains=word, then=Value(2)), default=Value(1),
                  output_field=IntegerField()) for word in words),
            Value(0),
        )
        qs = qs.annotate(rank=score * Value(1.0, output_field=FloatField()))
    return qs.order_by("-rank", "-approved_at", "-id")
