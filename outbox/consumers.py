"""`/ws/events/`: the live event socket of the user and admin apps (DESIGN.md Events).

Authentication, in this order: the `Authorization: Bearer` header (non-browser clients), the
Django session (admins in Django admin), or a first frame `{"type": "auth", "token": ...}`
(browsers) within WS_AUTH_TIMEOUT_SECONDS. Close codes: 4001 unauthenticated or token expired,
4003 blocked. Once the socket is in its groups the server sends
`{"type": "ready", "userId", "groups"}`; every event published after that reaches it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.authentication import user_from_token
from accounts.tokens import token_deadline

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4001
CLOSE_FORBIDDEN = 4003


@database_sync_to_async
def _authenticate_token(raw: str):
    """(user, exp) for a valid access token of an active user; raises on anything else."""
    user, token = user_from_token(raw)
    return user, token_deadline(token)  # exp + JWT leeway, as the API and refresh apply it


@database_sync_to_async
def _reload_user(user_id: int):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=user_id).first()


class EventsConsumer(AsyncWebsocketConsumer):
    user = None
    joined: list[str]

    async def connect(self):
        self.joined = []
        self._timers: list[asyncio.TimerHandle] = []
        await self.accept()
        header = next((v.decode("latin1") for k, v in self.scope.get("headers", []) if k == b"authorization"), None)
        if header:
            scheme, _, raw = header.partition(" ")
            if scheme.lower() != "bearer" or not raw:
                return await self.close(code=CLOSE_UNAUTHENTICATED)
            return await self._auth_with_token(raw.strip())
        session_user = self.scope.get("user")
        if session_user is not None and session_user.is_authenticated:
            return await self._start(session_user, exp=None)
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(settings.WS_AUTH_TIMEOUT_SECONDS, self._close_if_anonymous))

    def _close_if_anonymous(self):
        if self.user is None:
            asyncio.ensure_future(self.close(code=CLOSE_UNAUTHENTICATED))

    async def _auth_with_token(self, raw: str):
        try:
            user, exp = await _authenticate_token(raw)
        except Exception:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        await self._start(user, exp=exp)

    async def _start(self, user, exp):
        if not user.is_active:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        if user.is_blocked():
            return await self.close(code=CLOSE_FORBIDDEN)
        self.user = user
        for group in user.groups_for_events:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)
        if exp:
            delay = max(0.0, float(exp) - time.time())
            loop = asyncio.get_running_loop()
            self._timers.append(
                loop.call_later(delay, lambda: asyncio.ensure_future(self.close(code=CLOSE_UNAUTHENTICATED)))
            )
        await self.send(text_data=json.dumps({"type": "ready", "userId": user.pk, "groups": list(self.joined)}))

    async def receive(self, text_data=None, bytes_data=None):
        try:
            msg = json.loads(text_data or "")
        except ValueError:
            return await self._error("bad_frame", "Frames are JSON objects.")
        if not isinstance(msg, dict):
            return await self._error("bad_frame", "Frames are JSON objects.")
        kind = msg.get("type")
        if kind == "auth":
            if self.user is not None:
                return await self._error("already_authenticated", "This socket is already authenticated.")
            token = msg.get("token")
            if not isinstance(token, str) or not token:
                return await self.close(code=CLOSE_UNAUTHENTICATED)
            return await self._auth_with_token(token)
        if self.user is None:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        if kind == "ping":
            return await self.send(text_data=json.dumps({"type": "pong"}))
        return await self._error("unknown_type", f"Unknown frame type {kind!r}.")

    async def _error(self, code: str, message: str):
        await self.send(text_data=json.dumps({"type": "error", "code": code, "message": message}))

    async def outbox_event(self, message):
        """A committed outbox row for one of this socket's groups: write its frame as is."""
        await self.send(text_data=message["text"])

    async def access_recheck(self, message):
        """The user's block or role changed: re-read the user and close when it may not stay."""
        if self.user is None:
            return
        user = await _reload_user(self.user.pk)
        if user is None or not user.is_active:
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        if user.is_blocked() or ("admin" in self.joined and not user.is_moderator):
            return await self.close(code=CLOSE_FORBIDDEN)
        self.user = user

    async def disconnect(self, code):
        for timer in self._timers:
            timer.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []
