"""Handshake authentication for Socket.IO, exactly as the API authenticates (docs/realtime.md).

The token comes from the CONNECT packet's `auth.token` (browsers, the Node guide's
`io(url, { auth: { token } })`) or an `Authorization: Bearer` header (non-browser clients); a
token in the URL is never read. Refusals are `socketio.exceptions.ConnectionRefusedError`, which
the client receives as `connect_error` with `err.message`:
"Authentication required" (no token) or "Invalid token" (bad signature, expired, unknown or
inactive user, blocked user) -- the Node guide's middleware messages.
"""
from __future__ import annotations

from rest_framework_simplejwt.exceptions import InvalidToken
from socketio.exceptions import ConnectionRefusedError

from accounts.authentication import UserBlocked, check_not_blocked, token_user_id

AUTH_REQUIRED = "Authentication required"
INVALID_TOKEN = "Invalid token"


def handshake_token(auth, environ: dict) -> str | None:
    """The raw token of a handshake: `auth.token`, else the Bearer header; None when neither.

    Raises ConnectionRefusedError(INVALID_TOKEN) for a token that is not a string or a header
    that is not `Bearer <token>`."""
    if isinstance(auth, dict) and auth.get("token") not in (None, ""):
        token = auth["token"]
        if not isinstance(token, str):
            raise ConnectionRefusedError(INVALID_TOKEN)
        return token
    header = environ.get("HTTP_AUTHORIZATION")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise ConnectionRefusedError(INVALID_TOKEN)
        return raw.strip()
    return None


def token_read(raw: str):
    """(token, user id) of a handshake token, checked on the event loop (signature, `exp`, `sub`;
    no database). Raises ConnectionRefusedError(INVALID_TOKEN) for anything the API answers 401."""
    try:
        return token_user_id(raw)
    except InvalidToken as exc:
        raise ConnectionRefusedError(INVALID_TOKEN) from exc


def user_admitted(user):
    """`user` (the batch's row, None when unknown or inactive) when the API would serve it (sync:
    lifting an expired block writes, as the API does). Raises ConnectionRefusedError(INVALID_TOKEN)
    for no user or a block in force; a database error propagates as itself (the server answers
    "Server error", never "Invalid token": a client must not discard a good token because
    PostgreSQL restarted)."""
    if user is None:
        raise ConnectionRefusedError(INVALID_TOKEN)
    try:
        check_not_blocked(user)
    except UserBlocked as exc:
        raise ConnectionRefusedError(INVALID_TOKEN) from exc
    return user


def block_check_writes(user) -> bool:
    """Whether `user_admitted(user)` may write (an expired block to lift): run it off the loop then."""
    return user is not None and user.blocked_at is not None
