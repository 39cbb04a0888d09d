"""Text that JSON allows but UTF-8 and PostgreSQL refuse, found once at the edge.

JSON may carry `"\\u0000"` (NUL) and unpaired UTF-16 surrogates (`"\\ud800"`); Python decodes both
into `str`, but PostgreSQL refuses NUL in text and jsonb, refuses unpaired surrogates in jsonb,
and no such string can be encoded as UTF-8 (a page or frame that shows it answers 500). JSON
numbers too large for a float (`1e400`) become infinity, which jsonb refuses as well.

Every JSON body (the API's parser, core.api.parsers), every query string (QueryTextMiddleware below)
and every websocket frame (realtime.wsevents.socket) is checked here before anything else sees it, so
the whole class is a 400 `invalid_text` (a socket: an `error` frame) and a request that was
answered 2xx can be stored. docs/access-and-hardening.md, "Text the database cannot store".
"""
from __future__ import annotations

import math
import re

from django.http import JsonResponse
from rest_framework.exceptions import ParseError

from ..errors import ErrorCode
from .errors import error_body

# NUL, and any surrogate code point: a valid pair was already joined into one code point by
# the JSON decoder, so a surrogate left in a str is unpaired.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

INVALID_TEXT = ErrorCode.INVALID_TEXT


def unstorable_at(value, path: str = "") -> str | None:
    """The dotted path ("events.0.properties.note", "" for the value itself; a key's own text
    is reported as its path) of the first string, key or number in `value` (decoded JSON: dict,
    list, str, int, float, bool, None) that cannot be stored; None when everything can."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return where
        elif isinstance(item, dict):
            for key, sub in item.items():
                sub_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and _UNSTORABLE.search(key):
                    return where or "(key)"
                stack.append((sub_path, sub))
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{where}.{i}" if where else str(i), sub) for i, sub in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return where
    return None


class InvalidText(ParseError):
    """400 `invalid_text`, naming where: `fields` is {path: message} (core.api.errors renders it)."""

    default_code = INVALID_TEXT

    def __init__(self, path: str):
        super().__init__(describe(path), code=INVALID_TEXT)
        self.fields = {path or "body": "NUL, unpaired surrogates and non-finite numbers are not allowed."}


def storable(value):
    """A copy of decoded JSON `value` with NUL and unpaired surrogates (in keys and strings)
    replaced by U+FFFD and non-finite numbers by None: what an admin's "replay with repair"
    stores. Everything else is unchanged."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def describe(path: str) -> str:
    """The client-facing message for an unstorable value at `path`."""
    where = f" (at {path})" if path else ""
    return ("Text may not contain the NUL character (U+0000) or unpaired UTF-16 surrogates, "
            f"and numbers must be finite{where}.")


class QueryTextMiddleware:
    """Refuses a request whose path or query string (names or values) holds NUL: 400
    `invalid_text` in the API error shape, before any view, filter or admin search sends it to
    the database. (Percent-decoding never yields a surrogate: Django keeps invalid UTF-8
    percent-encoded.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            path = "path"
        elif not request.META.get("QUERY_STRING"):  # nothing to parse (most API reads)
            path = None
        else:
            path = unstorable_at(dict(request.GET.lists()))
        if path is not None:
            exc = InvalidText(path or "query")
            return JsonResponse(error_body(INVALID_TEXT, str(exc.detail), exc.fields), status=400)
        return self.get_response(request)
