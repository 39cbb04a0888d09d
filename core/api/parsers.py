"""The JSON parser of the API: orjson (RFC 8259 strict: NaN and Infinity are refused, as DRF's
STRICT_JSON), so bad input is a 400 `parse_error`, never a 500 — including nesting too deep for the
decoder (orjson stops at 1,024 levels). Text the database cannot store (NUL, unpaired surrogates)
and non-finite numbers (`1e400`) anywhere in the body are a 400 `invalid_text` (core.api.text),
before any view or serializer sees them."""
import json

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from .text import InvalidText, unstorable_at


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class JSONParser(BaseParser):
    """application/json bodies -> Python values; errors as above."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            # orjson refuses unpaired surrogates outright; the stdlib decoder accepts them, so it
            # tells a body that is JSON with unstorable text (invalid_text) from one that is not JSON.
            try:
                data = json.loads(raw, parse_constant=_refuse_constant)
            except (ValueError, RecursionError):
                raise ParseError(f"JSON parse error - {exc}") from None
        path = unstorable_at(data)
        if path is not None:
            raise InvalidText(path)
        return data
