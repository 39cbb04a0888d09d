"""DRF authentication: a JWT access token in `Authorization: Bearer`, user loaded from the database.

The user row is read on every request (one indexed query), so a role change or a block takes
effect at once, whatever the token says.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication as _JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from core.compiled import CompiledGet

from .tokens import AccessToken


class UserBlocked(exceptions.PermissionDenied):
    default_detail = "This account is blocked."
    default_code = "user_blocked"


def user_from_token(raw: str | bytes, *, select_related: tuple[str, ...] = ()):
    """Validate an access token and return its active user.

    `select_related` names one-to-one relations of the user to load in the same query (a view
    whose answer is one such row, e.g. GET /api/wallet, then needs no second round trip).
    Raises `InvalidToken` (-> 401) for a bad, expired or foreign-algorithm token, an unknown,
    deleted or inactive user. Blocks are not checked here (see `check_not_blocked`).
    """
    token, user_id = token_user_id(raw)
    try:
        user = _active_user_query(select_related).get(user_id)
    except get_user_model().DoesNotExist as e:
        raise user_not_found() from e
    return user, token


_ACTIVE_USER_QUERIES: dict[tuple[str, ...], CompiledGet] = {}


def _active_user_query(select_related: tuple[str, ...]) -> CompiledGet:
    """The active user by id, with `select_related`, compiled once per process (core.compiled: the
    ORM compiled it on every request, half the cost of the read; docs/benchmarks.md)."""
    query = _ACTIVE_USER_QUERIES.get(select_related)
    if query is None:
        User = get_user_model()
        query = _ACTIVE_USER_QUERIES[select_related] = CompiledGet(
            User, lambda pk: User.objects.select_related(*select_related).filter(pk=pk, is_active=True))
    return query


def user_not_found() -> InvalidToken:
    """The 401 for a token whose user is unknown, deleted or inactive."""
    return InvalidToken({"detail": "User not found or inactive.", "code": "user_not_found"})


def token_user_id(raw: str | bytes) -> tuple[AccessToken, int]:
    """(token, user id) of a valid access token, without reading the database (signature, `exp`
    with leeway, token type; `sub` must name an integer id). The websocket handshakes read the
    users of many tokens in one query (realtime.handshakes). Raises `InvalidToken` (-> 401)."""
    try:
        token = AccessToken(raw)
    except TokenError as e:
        raise InvalidToken({"detail": str(e), "code": "token_not_valid"}) from e
    sub = token.get("sub")
    try:
        if isinstance(sub, (bool, float)):  # int(True) == 1, int(2.5) == 2: not an id
            raise TypeError(sub)
        user_id = int(sub)
    except (ValueError, TypeError) as e:
        raise user_not_found() from e
    if not 0 < user_id < 2**63:  # ids are positive bigints: anything else names no user
        raise user_not_found()
    return token, user_id


def check_not_blocked(user) -> None:
    """Raise `UserBlocked` (403 `user_blocked`) while a block is in force for `user`.

    A block whose block_until has passed is lifted here and then (recorded and audited by
    `accounts.services.user_block_expire`), so the user is back at their first request without
    waiting for the hourly job; `user` is refreshed in place.
    """
    if user.blocked_at is None:
        return
    if user.is_blocked():
        raise UserBlocked()
    from .services import user_block_expire  # services import the outbox, which imports this module's peers

    user_block_expire(user_id=user.pk)
    user.refresh_from_db(fields=["blocked_at", "block_until", "block_reason"])


class JWTAuthentication(_JWTAuthentication):
    """Bearer JWT (HS256, JWT_SECRET) -> the user row; 401 for any bad token, 403 when blocked.

    The row is read from the primary on every request (role and block never come from the token);
    a view may set `user_select_related` to load one-to-one rows of the user in the same query.
    """

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        view = (getattr(request, "parser_context", None) or {}).get("view")
        user, token = user_from_token(raw, select_related=getattr(view, "user_select_related", ()))
        check_not_blocked(user)
        return user, token
