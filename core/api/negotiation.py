"""Content negotiation of the API: DRF's, with the answer for the requests every client sends
worked out once.

The API has one renderer (JSON, core.api.renderers). A request with no `Accept` header, `*/*` or
`application/json`, and no `?format=`, always gets it with media type `application/json`: that is
what DRF's DefaultContentNegotiation computes, by parsing the header on every request
(docs/benchmarks.md, "Per-request overhead"). Every other request goes through DRF's negotiation
unchanged (406 for an Accept the API cannot serve).
"""
from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation

_PLAIN_ACCEPTS = frozenset({None, "*/*", "application/json"})


class ApiContentNegotiation(DefaultContentNegotiation):
    """DefaultContentNegotiation, answering the plain JSON requests without parsing."""

    def select_renderer(self, request, renderers, format_suffix=None):
        """(renderer, media type), as DefaultContentNegotiation.select_renderer."""
        meta = request._request.META
        if (format_suffix is None and len(renderers) == 1 and meta.get("HTTP_ACCEPT") in _PLAIN_ACCEPTS
                and renderers[0].media_type == "application/json"
                and (not meta.get("QUERY_STRING") or self.settings.URL_FORMAT_OVERRIDE not in request.query_params)):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
