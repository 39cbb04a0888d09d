"""Errors of the wallet that need their own status (the codes are in core.errors.ErrorCode; each
code's status and meaning: docs/wallet.md "Error codes")."""
from __future__ import annotations

from core.errors import ErrorCode, ServiceError


class GatewayDown(ServiceError, status=503, code=ErrorCode.GATEWAY_UNAVAILABLE):
    """The payment gateway timed out or answered 5xx: nothing was changed; retry later."""
