"""The JSON parser of the API: orjson (RFC 8259 strict: NaN and Infinity are refused, as DRF's
STRICT_JSON), so bad input is a 400 `parse_error`, never a 500 — including nesting too deep for the
decoder (orjson stops at 1,024 levels)."""
import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class JSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return orjson.loads(stream.read() if stream is not None else b"")
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
