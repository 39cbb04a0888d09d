"""Plain-function renderers of the API's output values, for the hot read endpoints.

They produce exactly what the DRF fields do (DateTimeField with ISO 8601 output, MoneyField),
without building a serializer per request: GET /api/wallet and GET /api/listings render through
`wallet_out` / `listing_out` built from these (docs/benchmarks.md). Each app's tests compare them
with its DRF serializer, so the two cannot drift apart.
"""
from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

_CENT = Decimal("0.01")


def api_datetime(value: datetime.datetime | None, tz: datetime.tzinfo | None = None) -> str | None:
    """As DRF's DateTimeField: in the current time zone (UTC under /api/), ISO 8601, "Z" for UTC.
    `tz`: the current time zone when the caller already has it (a page renders many datetimes)."""
    if value is None:
        return None
    text = value.astimezone(tz or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def api_money(value) -> str:
    """As MoneyField (DRF's DecimalField, 2 places, ROUND_HALF_UP): "500.00"."""
    if not isinstance(value, Decimal):
        value = Decimal(str(value).strip())
    return f"{value.quantize(_CENT, rounding=ROUND_HALF_UP):f}"
