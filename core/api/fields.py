"""Serializer fields shared by every app's API."""
import re
from decimal import Decimal

from rest_framework import serializers
from rest_framework.utils.field_mapping import ClassLookupDict


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


class RenamedModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose read-only outputs under another name are declared once, in `Meta.renamed`.

    `Meta.renamed = {"createdAt": "created_at", "ownerId": "owner_id"}`: each name listed in
    `Meta.fields` and in `renamed` becomes the serializer field DRF maps that model field to (a
    foreign key's `*_id` to an IntegerField), `read_only=True`,
    `source=` the model field — exactly `createdAt = serializers.DateTimeField(source="created_at",
    read_only=True)` written by hand. Fields that need more arguments are declared as usual.
    """

    def build_field(self, field_name, info, model_class, nested_depth):
        source = getattr(self.Meta, "renamed", {}).get(field_name)
        if source is None:
            return super().build_field(field_name, info, model_class, nested_depth)
        model_field = model_class._meta.get_field(source)
        field_class = (serializers.IntegerField if model_field.is_relation
                       else ClassLookupDict(self.serializer_field_mapping)[model_field])
        return field_class, {"source": source, "read_only": True}
