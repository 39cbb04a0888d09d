"""Serializer fields shared by every app's API."""
import re
from decimal import Decimal

from rest_framework import serializers


_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class MoneyField(serializers.DecimalField):
    """An INR amount: a JSON number or string with at most 2 decimal places, rendered "500.00".

    Rejects booleans, NaN, infinities, more than 2 places and anything above 12 digits; with
    `positive=True` also zero and negatives. Money never passes through float: a JSON number is
    read through its text form (`str(2.215)` is "2.215" and is refused, 0.35 stays exactly 0.35).
    """

    default_error_messages = {
        "not_positive": "Must be greater than zero.",
        "boolean": "A valid number is required.",
    }

    def __init__(self, *, positive: bool = True, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        if not positive:
            kwargs.setdefault("min_value", Decimal("0.00"))
        self.positive = positive
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or data is None:
            self.fail("boolean")
        # A string is plain ASCII decimal notation: no exponent, underscores, spaces, "+" or
        # non-ASCII digits, which Decimal() would otherwise accept ("1e2", "1_000", "٥").
        if isinstance(data, str) and not _PLAIN_DECIMAL.fullmatch(data):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if self.positive and value <= 0:
            self.fail("not_positive")
        return value
