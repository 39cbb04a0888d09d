"""Domain errors raised by services; the API renders them in the DESIGN.md error shape.

Services never import DRF: they raise these, and `dgt.api.errors.exception_handler` turns them
into `{"error": {"code", "message", "fields"}}` with the status below.
"""
from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a service raises on purpose. `status` is the HTTP status to answer."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class ValidationFailed(ServiceError):
    status = 400
    code = "invalid"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "permission_denied"


class Conflict(ServiceError):
    """The request is valid but contradicts the current state (e.g. approving a rejected listing)."""

    status = 409
    code = "conflict"


class Unprocessable(ServiceError):
    status = 422
    code = "unprocessable"
