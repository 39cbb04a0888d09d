"""The Django session user of a `/ws/events/` handshake (admins in Django admin; docs/realtime.md).

Django's own rule (django.contrib.auth.get_user: the session's user, its backend among
AUTHENTICATION_BACKENDS, the session hash verified), read only when the handshake carries the
session cookie: the other sockets (tokens) pay nothing for it, where channels' session and auth
middleware parsed cookies and built a lazy user for every socket.
"""
from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.http.cookie import parse_cookie

from ..db import db_call


def _read(session_key: str):
    from django.contrib.auth import get_user

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=store))
    return user if user.is_authenticated else None


async def session_user(scope) -> object | None:
    """The authenticated user of the session cookie in `scope`'s headers, or None (no cookie, an
    unknown or expired session, a changed password). Raises what the database read raised."""
    cookies = [v.decode("latin1") for k, v in scope.get("headers", ()) if k == b"cookie"]
    if not cookies:
        return None
    session_key = parse_cookie("; ".join(cookies)).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    return await db_call(_read, session_key)
