"""Input validation of `POST /api/analytics/events`. An error in item i is reported under
`events.<i>.<field>` (core.api.errors flattens DRF's nested errors)."""
import json
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset; a naive time is refused rather than guessed."""

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            raise serializers.ValidationError("Include a UTC offset, e.g. 2026-01-31T10:00:00Z.")
        return super().enforce_timezone(value)


class EventSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9_.:\-]*$", max_length=100,
                                  error_messages={"invalid": "Letters, digits and _ . : - only, starting with a letter."})
    ts = AwareDateTimeField()
    properties = serializers.DictField(required=False, default=dict)

    def validate_ts(self, value):
        now = timezone.now()
        if value > now + timedelta(days=1):
            raise serializers.ValidationError("More than a day in the future.")
        if value < now - timedelta(days=settings.ANALYTICS_MAX_AGE_DAYS):
            raise serializers.ValidationError(f"Older than {settings.ANALYTICS_MAX_AGE_DAYS} days.")
        return value

    def validate_properties(self, value):
        text = json.dumps(value, separators=(",", ":"))
        if len(text) > settings.ANALYTICS_MAX_PROPERTIES_BYTES:
            raise serializers.ValidationError(f"At most {settings.ANALYTICS_MAX_PROPERTIES_BYTES} bytes of JSON.")
        return value


class EventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(child=EventSerializer(), min_length=1, max_length=settings.ANALYTICS_MAX_BATCH)
