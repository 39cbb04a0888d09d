"""API datetimes in UTC.

Storage is UTC and TIME_ZONE (Asia/Kolkata) is for people: Django admin, notification texts and
beat's schedule. JSON API responses render every datetime in UTC ("...Z"), as websocket frames
do, so a client never sees two offsets for one instant.
"""
from datetime import timezone as dt_timezone

from django.utils import timezone


class ApiUtcMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            with timezone.override(dt_timezone.utc):
                return self.get_response(request)
        return self.get_response(request)
