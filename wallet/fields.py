"""`PaiseField`: INR amounts as exact Decimals in Python, integer paise in the database.

Why (docs/wallet.md "Exact money"): SQLite has no decimal type; a `DecimalField` column there
holds a binary float, so `0.70 - 0.40` is stored as `0.29999999999999993` and a guarded
`balance + d >= 0` refuses the last 0.30. Integers are exact on SQLite and PostgreSQL alike, and
so are sums and comparisons of them in SQL. Python code never sees paise: the field converts at
the database boundary, so services, serializers and events keep using 2-place Decimals.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.core import exceptions
from django.db import models

CENT = Decimal("0.01")


def to_paise(amount) -> int:
    """INR (Decimal, int or decimal string with at most 2 places) -> integer paise, exactly.
    Raises ValueError for more than 2 places, NaN or infinities (money is never rounded here)."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        paise = value.scaleb(2)
        if not paise.is_finite() or paise != paise.to_integral_value():
            raise ValueError(f"not an INR amount with at most 2 places: {amount!r}")
    except InvalidOperation as exc:
        raise ValueError(f"not an INR amount: {amount!r}") from exc
    return int(paise)


def from_paise(paise) -> Decimal:
    """Integer paise (int, or an integral Decimal from a PostgreSQL SUM) -> INR Decimal, 2 places."""
    return Decimal(int(paise)).scaleb(-2).quantize(CENT)


class PaiseField(models.BigIntegerField):
    """An INR amount stored as a signed 64-bit count of paise (max ±92,233,720,368,547,758.07 INR).

    Values are `Decimal` with 2 places in Python (`Decimal("0.70")` is stored as 70); lookups,
    constraints and aggregates (`Sum`) convert both ways, so `filter(amount__gt=0)` and
    `Sum("amount")` work in INR. Raw SQL sees paise: convert with `to_paise` / `from_paise`.
    A stored value that is not an integer (only possible through raw SQL on SQLite) is returned
    unrounded, so drift shows instead of being hidden (and `ledger_check` reports it).
    """

    description = "INR amount (stored as integer paise)"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        exact = Decimal(value) if isinstance(value, int | Decimal) else Decimal(repr(value))
        # A non-integer (only raw SQL on SQLite can store one) comes back unrounded, so it shows.
        return from_paise(exact) if exact == exact.to_integral_value() else exact.scaleb(-2)

    def to_python(self, value):
        if value is None:
            return None
        try:
            return from_paise(to_paise(value))
        except ValueError:
            raise exceptions.ValidationError(f"{value!r} is not an INR amount with at most 2 places.",
                                             code="invalid") from None

    def get_prep_value(self, value):
        value = models.Field.get_prep_value(self, value)
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return to_paise(value)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return "" if value is None else f"{value:.2f}"

    def formfield(self, **kwargs):
        return models.Field.formfield(self, **{"form_class": forms.DecimalField, "max_digits": 20,
                                               "decimal_places": 2, **kwargs})
