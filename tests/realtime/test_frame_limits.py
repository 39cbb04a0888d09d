"""Frame limits of /ws/events/ on every server the project runs (docs/realtime.md, frame limits).

Real processes: uvicorn from the Procfile's `ws` line, daphne from Procfile.dev's `web` line (the
flags of `make run`). Before authentication a frame over 4 KB closes the socket (4009, the
consumer); after it, a frame over 64 KB is refused by the server itself (uvicorn: 1009, daphne:
connection dropped). An announced 15 MiB frame is refused after its first 70 KB: the
server closes while the client has sent under 1 % of it, so the frame is never buffered whole,
and eight such attacks leave the server's memory where it was.
"""
from __future__ import annotations

import contextlib
import json

import psutil
import pytest
from django.db import connection

from accounts.tokens import access_token_for
from ..servers import embedded_env, held_port, makefile_daphne_limits, procfile_command, procfile_server, services_env
from .rawws import RawSocket

SERVERS = ["uvicorn", "daphne"]
# How each server refuses a frame over 64 KB: uvicorn (websockets) sends close 1009; daphne
# (autobahn, failByDrop) drops the TCP connection without a close frame.
REFUSAL = {"uvicorn": 1009, "daphne": "dropped"}
FIFTEEN_MIB = 15 * 2**20
TOO_BIG = 4009  # realtime.wsevents.socket.CLOSE_TOO_BIG


def _rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def _attack(port: int) -> int | str:
    """Announce a 15 MiB text frame before auth and push its payload until the server stops us;
    returns how the server ended the socket (RawSocket.refusal)."""
    ws = RawSocket(port)
    assert ws.status == 101
    chunk = b"x" * 2**16
    with contextlib.suppress(OSError):
        ws.sock.sendall(RawSocket.header(FIFTEEN_MIB))
        for _ in range(FIFTEEN_MIB // len(chunk)):
            ws.sock.sendall(chunk)
    try:
        return ws.refusal()
    finally:
        ws.close()


def test_daphne_flags_are_make_runs():
    """Procfile.dev's daphne carries the same frame limits as `make run` (DAPHNE_WS_LIMITS)."""
    limits = makefile_daphne_limits()
    assert limits == "--websocket-max-message-size 65536 --websocket-max-frame-size 65536"
    assert limits in procfile_command("daphne", 1)
    assert "--ws-max-size 65536" in procfile_command("uvicorn", 1)


@pytest.mark.slow
@pytest.mark.parametrize("server", SERVERS)
def test_frames_before_auth(server, tmp_path):
    # Embedded mode on an empty SQLite file: enough for everything before auth.
    env = embedded_env(tmp_path, OUTBOX_EMBEDDED_RELAY_SECONDS="0")
    with held_port(19560) as held, procfile_server(server, held, env, tmp_path / "server.log") as proc:
        port = held.number
        # a 3.9 KB auth frame is read (its token is bad: 4001)
        ws = RawSocket(port)
        ws.send_text(json.dumps({"type": "auth", "token": "x" * 3900}))
        assert ws.close_code() == 4001
        ws.close()
        # a 5 KB one is refused for its size, before any token check
        ws = RawSocket(port)
        ws.send_text(json.dumps({"type": "auth", "token": "x" * 5000}))
        assert ws.close_code() == TOO_BIG
        ws.close()

        # given a socket that announces a 15 MiB frame and sends only its first 70 KB
        ws = RawSocket(port)
        assert ws.status == 101
        ws.sock.sendall(RawSocket.header(FIFTEEN_MIB) + b"x" * 70_000)
        # then the server ends the socket without waiting for the rest (it would wait forever
        # for 15 MiB it never gets if it buffered whole frames)
        assert ws.refusal() == REFUSAL[server]
        ws.close()

        # when eight clients push 15 MiB frames (the attack of docs/realtime.md)
        before = _rss(proc.pid)
        codes = [_attack(port) for _ in range(8)]
        after = _rss(proc.pid)
        # then every one was refused and the server holds no copy of them: 8 x 15 MiB would be
        # 120 MiB; the bound leaves room for allocator noise only
        # (a reset may beat the close frame to the client once the server stops reading)
        assert set(codes) <= {REFUSAL[server], "dropped"}, codes
        assert after - before < 24 * 2**20, (before, after)
        # and it still serves: a small auth frame with a bad token is answered 4001
        ws = RawSocket(port)
        ws.send_text(json.dumps({"type": "auth", "token": "not-a-token"}))
        assert ws.close_code() == 4001
        ws.close()


@pytest.mark.services
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", SERVERS)
def test_after_auth_64kb_is_the_limit(server, seller, tmp_path):
    connection.close()
    with held_port(19560) as port, procfile_server(server, port, services_env(), tmp_path / "server.log"):
        ws = RawSocket(port.number, headers={"Authorization": f"Bearer {access_token_for(seller)}"})
        assert json.loads(ws.recv_frame()[1])["type"] == "ready"
        # a 60 KB frame after auth is read and answered
        ws.send_text(json.dumps({"type": "ping", "pad": "x" * 60_000}))
        assert json.loads(ws.recv_frame()[1]) == {"type": "pong"}
        # a 70 KB one ends the socket
        ws.send_text(json.dumps({"type": "ping", "pad": "x" * 70_000}))
        assert ws.refusal() == REFUSAL[server]
        ws.close()


@pytest.mark.django_db(transaction=True)
def test_consumer_limits_apply_without_server_flags(seller, settings):
    """The consumer's own check (servers without a frame limit, e.g. the test communicator):
    over WS_PREAUTH_MAX_BYTES before auth and over WS_MAX_BYTES after it close with 4009."""
    from asgiref.sync import async_to_sync

    from .communicator import ws_connect, ws_frames

    settings.WS_MAX_BYTES = 1000

    async def scenario():
        async with ws_connect() as (anon, _):
            await anon.send_to(text_data=json.dumps({"type": "auth", "token": "x" * 5000}))
            before_auth = await ws_frames(anon)
        async with ws_connect(seller) as (comm, ready):
            await comm.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 900}))
            small = await ws_frames(comm)
            await comm.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 1100}))
            big = await ws_frames(comm)
        return before_auth, ready, small, big

    before_auth, ready, small, big = async_to_sync(scenario)()
    assert before_auth == [{"type": "_closed", "code": TOO_BIG}]
    assert ready["type"] == "ready"
    assert small == [{"type": "pong"}]
    assert big == [{"type": "_closed", "code": TOO_BIG}]
