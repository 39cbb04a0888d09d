"""A token that cannot be checked (the database is down) is not a bad token: `/ws/events/` closes
4503 and Socket.IO refuses with "Server error", where a bad token gets 4001 / "Invalid token"
(docs/realtime.md, "When the database is down"). A client told "Invalid token" signs the user out."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError
from socketio.exceptions import ConnectionRefusedError

from accounts.tokens import access_token_for
from realtime.wsevents import socket as ws_socket
from realtime.wsevents.socket import CLOSE_UNAUTHENTICATED, CLOSE_UNAVAILABLE
from realtime.socketio import auth as sio_auth
from realtime.socketio import server as sio_server
from realtime.socketio.server import SERVER_ERROR, build_server

from .communicator import ws_close_code, ws_open


async def _database_down(*args, **kwargs):
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


async def _close_code(headers) -> int:
    async with ws_open(headers=headers) as (comm, accepted):
        assert accepted
        return await ws_close_code(comm, timeout=5)


@pytest.mark.django_db(transaction=True)
def test_ws_events_closes_4503_when_the_token_cannot_be_checked(seller, monkeypatch):
    token = access_token_for(seller)
    monkeypatch.setattr(ws_socket, "handshake_read", _database_down)
    assert async_to_sync(_close_code)([(b"authorization", f"Bearer {token}".encode())]) == CLOSE_UNAVAILABLE


@pytest.mark.django_db(transaction=True)
def test_ws_events_still_closes_4001_for_a_bad_token():
    assert async_to_sync(_close_code)([(b"authorization", b"Bearer not-a-token")]) == CLOSE_UNAUTHENTICATED


@pytest.mark.django_db(transaction=True)
def test_socketio_refuses_with_server_error_when_the_token_cannot_be_checked(seller, monkeypatch):
    token = access_token_for(seller)
    monkeypatch.setattr(sio_server, "handshake_read", _database_down)
    server = build_server()
    with pytest.raises(ConnectionRefusedError) as refused:
        async_to_sync(server._on_connect)("sid-1", {}, {"token": token})
    assert refused.value.error_args == {"message": SERVER_ERROR}
    assert server.hub.sockets == {}  # nothing attached


@pytest.mark.django_db(transaction=True)
def test_socketio_still_refuses_a_bad_token_as_invalid_token():
    server = build_server()
    with pytest.raises(ConnectionRefusedError) as refused:
        async_to_sync(server._on_connect)("sid-1", {}, {"token": "not-a-token"})
    assert refused.value.error_args == {"message": sio_auth.INVALID_TOKEN}
