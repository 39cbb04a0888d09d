"""Page-number pagination: `{count, next, previous, results}`, `?page=` and `?pageSize=` (max 100)."""
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100
