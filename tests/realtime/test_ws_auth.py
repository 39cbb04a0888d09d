"""Websocket authentication at /ws/events/: header, first frame, session; 4001 otherwise."""
from __future__ import annotations

import time

import jwt
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from .communicator import ws_connect, ws_frames, ws_open


def _run(coro_fn):
    return async_to_sync(coro_fn)()


@pytest.mark.django_db(transaction=True)
def test_first_frame_auth_joins_user_group(seller):
    async def scenario():
        async with ws_connect(seller, first_frame=True) as (_, ready):
            return ready

    assert _run(scenario) == {"type": "ready", "userId": seller.pk, "groups": [f"user.{seller.pk}", "public"]}


@pytest.mark.django_db(transaction=True)
def test_moderator_joins_admin_group(moderator):
    async def scenario():
        async with ws_connect(moderator) as (_, ready):
            return ready

    assert _run(scenario)["groups"] == [f"user.{moderator.pk}", "public", "admin"]


@pytest.mark.django_db(transaction=True)
def test_admin_session_authenticates(client, admin_user):
    client.force_login(admin_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        async with ws_open(headers=[(b"cookie", cookie)]) as (comm, accepted):
            assert accepted
            return await comm.receive_json_from(timeout=5)

    assert _run(scenario)["userId"] == admin_user.pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param(jwt.encode({"sub": "1", "exp": int(time.time()) - 10}, settings.JWT_SECRET, algorithm="HS256"),
                     id="expired"),
        pytest.param(jwt.encode({"sub": "1", "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256"),
                     id="wrong-secret"),
    ],
)
@pytest.mark.parametrize("how", ["header", "frame"])
def test_bad_token_closes_4001(seller, token, how):
    async def scenario():
        headers = [(b"authorization", f"Bearer {token}".encode())] if how == "header" else []
        async with ws_open(headers=headers) as (comm, accepted):
            assert accepted
            if how == "frame":
                await comm.send_json_to({"type": "auth", "token": token})
            return await ws_frames(comm, quiet=2)

    assert _run(scenario) == [{"type": "_closed", "code": 4001}]


@pytest.mark.django_db(transaction=True)
def test_frames_before_auth_close_4001(seller):
    async def scenario():
        async with ws_connect() as (comm, _):
            await comm.send_json_to({"type": "ping"})
            return await ws_frames(comm, quiet=2)

    assert _run(scenario) == [{"type": "_closed", "code": 4001}]


@pytest.mark.django_db(transaction=True)
def test_no_auth_within_timeout_closes_4001(settings, seller):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2

    async def scenario():
        async with ws_connect() as (comm, _):
            return await ws_frames(comm, quiet=1.5)

    assert _run(scenario) == [{"type": "_closed", "code": 4001}]


@pytest.mark.django_db(transaction=True)
def test_ping_pong(seller):
    async def scenario():
        async with ws_connect(seller, headers=[(b"origin", b"http://127.0.0.1:8000")]) as (comm, _):
            await comm.send_json_to({"type": "ping"})
            return await comm.receive_json_from(timeout=3)

    assert _run(scenario) == {"type": "pong"}


@pytest.mark.django_db(transaction=True)
def test_a_socket_closed_before_ready_leaves_its_groups(seller):
    # uvicorn raises ClientDisconnected from the application's send when the client has gone: the
    # application returns without a websocket.disconnect message, and the groups must be left anyway.
    import asyncio

    from channels.layers import get_channel_layer

    from realtime.wsevents.hub import hub_for_loop
    from realtime.wsevents.socket import events_app
    from accounts.tokens import access_token_for

    class ClientDisconnected(OSError):
        pass

    async def scenario():
        layer = get_channel_layer()
        incoming = asyncio.Queue()
        await incoming.put({"type": "websocket.connect"})

        async def send(message):
            if message["type"] == "websocket.send":
                raise ClientDisconnected()

        scope = {"type": "websocket", "path": "/ws/events/", "query_string": b"",
                 "headers": [(b"authorization", f"Bearer {access_token_for(seller)}".encode())]}
        with pytest.raises(ClientDisconnected):
            await events_app(scope, incoming.get, send)
        hub = hub_for_loop()
        await hub.discards_done()  # the process's channel leaves them (realtime.fanout)
        # This loop's hub channel (the socket's subscriptions); other tests' hubs are not ours.
        return hub.refs, sorted(group for group, members in layer.groups.items() if hub.channel in members)

    assert _run(scenario) == ({}, [])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("after", ["%C2%B2", "9" * 5000, "-1", "abc"])
def test_an_after_that_is_not_an_id_is_an_error_frame(seller, after):
    from accounts.tokens import access_token_for

    async def scenario():
        headers = [(b"authorization", f"Bearer {access_token_for(seller)}".encode())]
        async with ws_open(f"/ws/events/?after={after}", headers=headers) as (comm, accepted):
            assert accepted
            return (await ws_frames(comm))[:2]

    ready, error = _run(scenario)
    assert ready["type"] == "ready" and error["type"] == "error" and error["code"] == "bad_frame"
