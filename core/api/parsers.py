"""The JSON parser of the API: DRF's, except that input the decoder cannot handle (nesting deep
enough to exhaust the recursion limit) is a 400 `parse_error`, not a 500."""
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as _JSONParser


class JSONParser(_JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
