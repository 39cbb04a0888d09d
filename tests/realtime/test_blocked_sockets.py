"""Open websockets follow blocks and role changes at once (docs/access-and-hardening.md), through the real ASGI app."""
from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts import services
from accounts.tokens import token_pair_for
from dgt.asgi import application
from outbox.services import GROUP_ADMIN, publish

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(user) -> WebsocketCommunicator:
    token = (await database_sync_to_async(token_pair_for)(user))["access"]
    comm = WebsocketCommunicator(application, "/ws/events/", headers=[(b"authorization", f"Bearer {token}".encode())])
    connected, _ = await comm.connect()
    assert connected
    ready = json.loads(await comm.receive_from(timeout=5))
    assert ready["type"] == "ready"
    return comm, ready


async def _next_close(comm) -> dict:
    """The socket's close, skipping frames sent before it (e.g. `admin.stats` on admin sockets)."""
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output


def test_socket_joins_public_group(seller, moderator):
    async def run():
        comm, ready = await _connect(seller)
        mod, mod_ready = await _connect(moderator)
        await comm.disconnect()
        await mod.disconnect()
        return ready, mod_ready

    ready, mod_ready = async_to_sync(run)()
    assert ready["groups"] == [f"user.{ready['userId']}", "public"]
    assert mod_ready["groups"] == [f"user.{mod_ready['userId']}", "public", "admin"]


def test_blocked_users_socket_closes_with_4003(admin_user, seller, buyer):
    async def run():
        comm, _ = await _connect(seller)
        bystander, _ = await _connect(buyer)
        await database_sync_to_async(services.user_block)(user_id=seller.pk, actor=admin_user, reason="spam")
        # Generous timeout: no timed assertions in tests (measured by hand: ~0.1 s, see docs).
        closed = await _next_close(comm)
        bystander_quiet = await bystander.receive_nothing(timeout=0.3)
        await bystander.disconnect()
        return closed, bystander_quiet

    closed, bystander_quiet = async_to_sync(run)()
    assert closed == {"type": "websocket.close", "code": 4003}
    assert bystander_quiet  # another user's socket stays open and gets nothing


def test_blocked_user_cannot_reconnect(admin_user, seller):
    services.user_block(user_id=seller.pk, actor=admin_user, reason="spam")

    async def run():
        token = (await database_sync_to_async(token_pair_for)(seller))["access"]
        comm = WebsocketCommunicator(application, "/ws/events/", headers=[(b"authorization", f"Bearer {token}".encode())])
        await comm.connect()
        return await comm.receive_output(timeout=5)

    assert async_to_sync(run)() == {"type": "websocket.close", "code": 4003}


async def _next_event(comm, channel: str) -> dict:
    """The next frame on `channel`, skipping others (admin sockets also get `admin.stats`)."""
    while True:
        frame = json.loads(await comm.receive_from(timeout=5))
        if frame.get("channel") == channel:
            return frame


def test_demoted_moderator_stops_receiving_admin_frames(admin_user, moderator, make_user):
    other_mod = make_user("moderator", username="mod2", is_staff=True)

    def admin_alert(n: int):
        publish(channel="admin.alert", groups=[GROUP_ADMIN], data={"n": n})

    async def run():
        demoted, _ = await _connect(moderator)
        staying, _ = await _connect(other_mod)
        await database_sync_to_async(admin_alert)(1)
        before = await _next_event(demoted, "admin.alert")
        await _next_event(staying, "admin.alert")

        await database_sync_to_async(services.user_role_set)(user_id=moderator.pk, actor=admin_user, role="user")
        closed = await _next_close(demoted)
        await database_sync_to_async(admin_alert)(2)
        after_for_staying = await _next_event(staying, "admin.alert")
        await staying.disconnect()

        # Reconnecting, the demoted user joins only their own groups and gets no admin frames.
        again, ready = await _connect(moderator)
        await database_sync_to_async(admin_alert)(3)
        nothing = await again.receive_nothing(timeout=0.3)
        await again.disconnect()
        return before, closed, after_for_staying, ready, nothing

    before, closed, after_for_staying, ready, nothing = async_to_sync(run)()
    assert before["channel"] == "admin.alert" and before["data"] == {"n": 1}
    assert closed == {"type": "websocket.close", "code": 4003}
    assert after_for_staying["data"] == {"n": 2}
    assert "admin" not in ready["groups"]
    assert nothing


def test_session_socket_of_a_blocked_admin_user_is_not_authenticated(client, admin_user, moderator):
    client.force_login(moderator)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def connect_and_ping():
        comm = WebsocketCommunicator(application, "/ws/events/", headers=[(b"cookie", cookie)])
        try:
            await comm.connect()
            await comm.send_to(text_data=json.dumps({"type": "ping"}))
            return await comm.receive_output(timeout=5)
        finally:
            # An open socket keeps its consumer (and its database connection) alive after the
            # test: on SQLite the next test then fails with "database table is locked".
            await comm.disconnect()

    first = async_to_sync(connect_and_ping)()
    assert first["type"] == "websocket.send" and json.loads(first["text"])["type"] == "ready"

    services.user_block(user_id=moderator.pk, actor=admin_user, reason="compromised")
    assert async_to_sync(connect_and_ping)() == {"type": "websocket.close", "code": 4001}
