"""Logging: a filter that masks PII before any handler writes a record, the UTC line format with
the request id, and the filter that keeps each 4xx to one line (docs/access-and-hardening.md, "Logs").

Masked, in the message, its arguments and a formatted traceback:
* Authorization headers and bearer tokens: `Authorization: Bearer abc` -> `Authorization: [redacted]`
* JWTs anywhere (three base64url parts starting `eyJ`): `[jwt]`
* key/value secrets: `password=...`, `"token": "..."`, `refresh`, `access`, `secret`, `api_key`
* emails: `asha@example.com` -> `a***@example.com` (the domain helps debugging and is not personal)
* phone numbers: `+` followed by 8..15 digits (spaces, dashes, dots, parentheses allowed), and Indian
  mobile numbers written without a country code (10 digits starting 6-9): all but the last 2 digits
  become `*`. Bare 10-digit numbers starting 1-5 (epoch seconds, ids) are left alone on purpose.
"""
from __future__ import annotations

import logging
import re
import time

from core.context import current

_AUTH_HEADER = re.compile(r"(?i)\b(authorization|x-api-key|cookie)(\s*[:=]\s*|['\"]\s*:\s*['\"])((?:[A-Za-z]+\s+)?[^\s'\",}]+)")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SECRET_KV = re.compile(
    r"(?i)([\"']?\b(?:password|passwd|secret|api_key|apikey|token|access|refresh|otp)\b[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"',}&]+)"
)
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d[\d\s().-]{6,18}\d(?!\d)")
_PHONE_IN = re.compile(r"(?<![\w.+])[6-9]\d{4}[\s-]?\d{5}(?![\w.])")


def _mask_digits(match: re.Match) -> str:
    text = match.group(0)
    total = sum(c.isdigit() for c in text)
    seen = 0
    out = []
    for c in text:
        if c.isdigit():
            seen += 1
            out.append(c if seen > total - 2 else "*")
        else:
            out.append(c)
    return "".join(out)


def mask_pii(text: str) -> str:
    """Return `text` with credentials, emails and phone numbers masked (see the module doc)."""
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _JWT.sub("[jwt]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _SECRET_KV.sub(lambda m: f"{m.group(1)}[redacted]", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _PHONE_INTL.sub(_mask_digits, text)
    text = _PHONE_IN.sub(_mask_digits, text)
    return text


class MaskPIIFilter(logging.Filter):
    """Rewrites each record's message (with its args merged) and traceback through `mask_pii`.

    Installed on the console handler in settings.LOGGING, so third-party loggers (django.request,
    celery, daphne) are masked too. Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record as is, masked raw
            message = str(record.msg)
        record.msg = mask_pii(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        return True


class UtcFormatter(logging.Formatter):
    """One line per record: `2026-12-01T18:38:51.123Z INFO name [request-id] message`.

    Times are UTC with the zone (ISO 8601 "Z"), as the API and the machine speak, whatever
    TIME_ZONE says (Django sets the process's local zone to it). The request id is the one of the
    request being served (core.context; X-Request-ID), "-" outside a request.
    """

    converter = time.gmtime

    def __init__(self, fmt=None, datefmt=None, style="%", validate=True, **kwargs):
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s", datefmt, style,
                         validate, **kwargs)

    def formatTime(self, record, datefmt=None):
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"

    def format(self, record):
        if not getattr(record, "request_id", None):
            record.request_id = current().request_id or "-"
        return super().format(record)


class DropClientErrors(logging.Filter):
    """On `django.request` and `django.security.csrf`: drop the records of 4xx responses (and
    with them the PermissionDenied tracebacks of admin pages a moderator may not see).
    core.middleware logs every response once, 4xx at WARNING; 5xx records (ERROR, with the
    traceback) pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        return status is None or status >= 500


# uvicorn's per-socket handshake lines (uvicorn.protocols.websockets.*: the sans-I/O and legacy
# websockets implementations and wsproto log the same strings at INFO on "uvicorn.error").
UVICORN_SOCKET_LINES = frozenset({
    '%s - "WebSocket %s" [accepted]',
    "connection open",
    "connection closed",
})


class DropWebsocketAccepts(logging.Filter):
    """On `uvicorn.error`: drop uvicorn's one INFO line per accepted websocket (and the legacy
    implementation's "connection open/closed"). A reconnect storm is 10,000 of them in seconds,
    each formatted, masked and written on the event loop that is accepting the next socket: about
    a quarter of the handshake's own Python (docs/benchmarks.md, "Reconnect storm: the listen
    queue"). Rejections (`... 403`), warnings and errors pass (docs/operations.md, "Logs")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in UVICORN_SOCKET_LINES
