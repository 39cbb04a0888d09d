"""The JSON parser of the API: DRF's, except that
* input the decoder cannot handle (nesting deep enough to exhaust the recursion limit) is a 400
  `parse_error`, not a 500;
* text the database cannot store (NUL, unpaired surrogates) and non-finite numbers (`1e400`)
  anywhere in the body are a 400 `invalid_text` (core.api.text), before any view or serializer
  sees them."""
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as _JSONParser

from .text import InvalidText, unstorable_at


class JSONParser(_JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        path = unstorable_at(data)
        if path is not None:
            raise InvalidText(path)
        return data
