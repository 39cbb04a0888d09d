"""The JSON renderer of the API: orjson, with DRF's JSONRenderer's output.

Same bytes as DRF's renderer with the project's settings (compact, UTF-8, datetimes ISO 8601 with
"Z" for UTC, U+2028/U+2029 escaped, Decimal outside a serializer as a number, UUIDs and dates as
strings), at a fraction of the CPU: rendering is paid on every response (docs/benchmarks.md).
"""
from __future__ import annotations

import datetime
import decimal
import uuid

import orjson
from django.db.models.query import QuerySet
from django.utils.encoding import force_str
from django.utils.functional import Promise
from rest_framework.renderers import BaseRenderer

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _default(obj):
    """What orjson leaves to us: the types DRF's JSONEncoder knows (rest_framework/utils/encoders.py)."""
    if isinstance(obj, datetime.datetime):
        text = obj.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, Promise):
        return force_str(obj)
    if isinstance(obj, decimal.Decimal):
        return float(obj)  # DRF's choice for a bare Decimal; serializer fields give money as strings
    if isinstance(obj, datetime.timedelta):
        return str(obj.total_seconds())
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, QuerySet):
        return tuple(obj)
    if isinstance(obj, bytes):
        return obj.decode()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__iter__"):
        return tuple(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None  # binary UTF-8, as DRF's JSONRenderer

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        out = orjson.dumps(data, default=_default, option=_OPTIONS)
        # As DRF: line and paragraph separators are valid JSON but not valid JavaScript.
        if b"\xe2\x80\xa8" in out or b"\xe2\x80\xa9" in out:
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out
