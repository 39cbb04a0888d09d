"""Open websockets follow blocks and role changes at once (docs/access-and-hardening.md), through the real ASGI app."""
from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from accounts import services
from accounts.tokens import access_token_for
from outbox.services import GROUP_ADMIN, publish

from .communicator import ws_close_code, ws_connect, ws_open

pytestmark = pytest.mark.django_db(transaction=True)


def test_socket_joins_public_group(seller, moderator):
    async def run():
        async with ws_connect(seller) as (_, ready), ws_connect(moderator) as (_, mod_ready):
            return ready, mod_ready

    ready, mod_ready = async_to_sync(run)()
    assert ready["groups"] == [f"user.{ready['userId']}", "public"]
    assert mod_ready["groups"] == [f"user.{mod_ready['userId']}", "public", "admin"]


def test_blocked_users_socket_closes_with_4003(admin_user, seller, buyer):
    async def run():
        async with ws_connect(seller) as (comm, _), ws_connect(buyer) as (bystander, _):
            await database_sync_to_async(services.user_block)(user_id=seller.pk, actor=admin_user, reason="spam")
            # Generous timeout: no timed assertions in tests (measured by hand: ~0.1 s, see docs).
            closed = await ws_close_code(comm, timeout=5)
            bystander_quiet = await bystander.receive_nothing(timeout=0.3)
        return closed, bystander_quiet

    closed, bystander_quiet = async_to_sync(run)()
    assert closed == 4003
    assert bystander_quiet  # another user's socket stays open and gets nothing


def test_blocked_user_cannot_reconnect(admin_user, seller):
    services.user_block(user_id=seller.pk, actor=admin_user, reason="spam")

    async def run():
        async with ws_open(headers=[(b"authorization", f"Bearer {access_token_for(seller)}".encode())]) as (comm, _):
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
        async with ws_connect(moderator) as (demoted, _), ws_connect(other_mod) as (staying, _):
            await database_sync_to_async(admin_alert)(1)
            before = await _next_event(demoted, "admin.alert")
            await _next_event(staying, "admin.alert")

            await database_sync_to_async(services.user_role_set)(user_id=moderator.pk, actor=admin_user, role="user")
            closed = await ws_close_code(demoted, timeout=5)
            await database_sync_to_async(admin_alert)(2)
            after_for_staying = await _next_event(staying, "admin.alert")

        # Reconnecting, the demoted user joins only their own groups and gets no admin frames.
        async with ws_connect(moderator) as (again, ready):
            await database_sync_to_async(admin_alert)(3)
            nothing = await again.receive_nothing(timeout=0.3)
        return before, closed, after_for_staying, ready, nothing

    before, closed, after_for_staying, ready, nothing = async_to_sync(run)()
    assert before["channel"] == "admin.alert" and before["data"] == {"n": 1}
    assert closed == 4003
    assert after_for_staying["data"] == {"n": 2}
    assert "admin" not in ready["groups"]
    assert nothing


def test_session_socket_of_a_blocked_admin_user_is_not_authenticated(client, admin_user, moderator):
    client.force_login(moderator)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def connect_and_ping():
        async with ws_open(headers=[(b"cookie", cookie)]) as (comm, _):
            await comm.send_to(text_data=json.dumps({"type": "ping"}))
            return await comm.receive_output(timeout=5)

    first = async_to_sync(connect_and_ping)()
    assert first["type"] == "websocket.send" and json.loads(first["text"])["type"] == "ready"

    services.user_block(user_id=moderator.pk, actor=admin_user, reason="compromised")
    assert async_to_sync(connect_and_ping)() == {"type": "websocket.close", "code": 4001}
