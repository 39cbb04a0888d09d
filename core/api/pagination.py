"""Page-number pagination: `{count, next, previous, results}`, `?page=` and `?pageSize=` (max 100)."""
from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import Count, Window
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100


class WindowCountPaginator(DjangoPaginator):
    """Django's paginator, counting with `COUNT(*) OVER ()` on the page's own query: one round trip
    instead of COUNT then SELECT whenever the page has rows (an empty page still counts apart).
    Same pages, same errors (PageNotAnInteger, EmptyPage) as Django's. The object list is a QuerySet,
    or any object with `count()`, slicing, and `page_rows(offset, limit) -> (rows, count of all rows
    or None when no row)` that pages itself."""

    def page(self, number):
        try:
            n = int(number)
        except (TypeError, ValueError):
            return super().page(number)
        page_rows = getattr(self.object_list, "page_rows", None)
        if n < 1 or self.orphans or (page_rows is None and not hasattr(self.object_list, "annotate")):
            return super().page(number)
        bottom = (n - 1) * self.per_page
        if page_rows is not None:  # an object list that pages itself (e.g. listings.selectors.OwnerListingRows)
            rows, count = page_rows(bottom, self.per_page)
        else:
            rows = list(self.object_list.annotate(_window_count=Window(Count("*")))[bottom:bottom + self.per_page])
            count = rows[0]._window_count if rows else None
        if rows:
            self.__dict__["count"] = count  # the cached_property, filled from the same query
        n = self.validate_number(n)
        return self._get_page(rows, n, self)


class WindowCountPagination(Pagination):
    """`Pagination` for the hot lists (GET /api/listings): the count comes with the page."""

    django_paginator_class = WindowCountPaginator
def paginated_response(request, queryset, serializer_class, *, view, pagination_class=Pagination):
    """The `{count, next, previous, results}` response of `queryset`'s requested page, each item
    rendered by `serializer_class` (the one way an APIView paginates; `pagination_class` for a
    different page size). Raises NotFound (404) for a page past the end, as DRF does."""
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
