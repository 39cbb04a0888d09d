"""Recovery session ids (realtime.socketio.pid) and the handshake plan (docs/realtime.md)."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from socketio.exceptions import ConnectionRefusedError

from accounts.tokens import access_token_for
from outbox.models import EventOutbox
from outbox.services import publish
from realtime.socketio.auth import handshake_token
from realtime.socketio.pid import offset_read, pid_issue, pid_read
from realtime.handshakes import handshake_read
from realtime.socketio.auth import token_read
from realtime.socketio.server import _resume_point, _session


def _plan(token: str, auth) -> tuple[str, int, bool]:
    """(pid, after, recovered) of a handshake, as the server decides them."""
    _, user_id = token_read(token)
    session, asked = _resume_point(auth, user_id)
    return _session(session, asked, async_to_sync(handshake_read)(user_id, after=asked), user_id)


def test_a_pid_belongs_to_its_user_and_is_signed():
    pid = pid_issue(user_id=7, watermark=41)
    session = pid_read(pid, user_id=7)
    assert (session.user_id, session.watermark, session.pid) == (7, 41, pid)
    assert pid_read(pid, user_id=8) is None
    assert pid_read(pid.replace("7.41", "7.40"), user_id=7) is None
    assert pid_read(None, user_id=7) is None and pid_read(123, user_id=7) is None


def test_offsets_are_outbox_ids_as_strings():
    assert offset_read("42") == 42
    assert [offset_read(v) for v in (None, 42, "-1", "4x", "9" * 30)] == [None] * 5


def test_offsets_that_are_not_ascii_digits_or_exceed_a_bigint_are_ignored():
    # "²" and "①" pass str.isdigit but not int(): they used to fail the handshake with ValueError.
    assert [offset_read(v) for v in ("²", "1²", "①", "١٢", "", "9" * 19, str(2**63))] == [None] * 7
    assert offset_read(str(2**63 - 1)) == 2**63 - 1


def test_handshake_token_never_comes_from_the_url():
    assert handshake_token({"token": "abc"}, {"QUERY_STRING": "token=zzz"}) == "abc"
    assert handshake_token(None, {"QUERY_STRING": "token=zzz"}) is None
    assert handshake_token({}, {"HTTP_AUTHORIZATION": "Bearer xyz"}) == "xyz"
    for auth, environ in (({"token": 5}, {}), (None, {"HTTP_AUTHORIZATION": "Basic xyz"})):
        with pytest.raises(ConnectionRefusedError):
            handshake_token(auth, environ)


@pytest.mark.django_db(transaction=True)  # the batch reads through db_call, on its own connection
def test_plan_recovers_a_valid_pid_and_ignores_another_users(seller, buyer):
    publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 1})
    first = EventOutbox.objects.latest("id").id
    token = access_token_for(seller)

    pid, after, recovered = _plan(token, {})
    assert (after, recovered) == (first, False)

    publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 2})
    assert _plan(token, {"pid": pid}) == (pid, first, True)
    assert _plan(token, {"pid": pid, "offset": str(first + 1)}) == (pid, first + 1, True)

    other = pid_issue(user_id=buyer.pk, watermark=0)
    new_pid, after, recovered = _plan(token, {"pid": other})
    assert new_pid != other and recovered is False and after == first + 1


@pytest.mark.django_db
def test_an_unexpected_handshake_error_is_a_refusal_not_an_escaped_exception(monkeypatch, seller):
    # python-socketio only answers ConnectionRefusedError: anything else leaves the client
    # without a CONNECT reply and its pre-connected sid in the manager.
    import asyncio

    from realtime.socketio import server as sio_server

    async def broken(user_id, after=None):
        raise RuntimeError("database went away")

    monkeypatch.setattr(sio_server, "handshake_read", broken)
    srv = sio_server.build_server()
    with pytest.raises(ConnectionRefusedError) as refused:
        asyncio.run(srv._on_connect("sid-1", {}, {"token": access_token_for(seller)}))
    assert refused.value.error_args == {"message": sio_server.SERVER_ERROR}
    assert srv._pids == {} and srv._after == {}
    assert srv.hub.refs == {} and srv.hub.sockets == {}  # the early hold on the user's group is released


@pytest.mark.parametrize("data", ["40{{{{", "40" + "[" * 5000 + "]" * 5000, '40{"offset": ' + "9" * 5000 + "}",
                                  b"\x00\x01", "4x"])
def test_a_malformed_packet_closes_the_session_instead_of_raising(data):
    import asyncio

    from realtime.socketio.server import build_server

    srv = build_server()
    closed = []

    async def disconnect(eio_sid):
        closed.append(eio_sid)

    async def receive():
        await srv._handle_eio_message("eio-1", data)
        await asyncio.gather(*srv._closing)

    srv.eio.disconnect = disconnect
    asyncio.run(receive())
    assert closed == ["eio-1"]
