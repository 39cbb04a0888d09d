"""The port a test holds for its servers (tests/servers.HeldPort; docs/testing.md, "Ports"): what
clients and other processes see before a server listens, while it serves, and after it stops,
and that the next server can listen on it although the last one left connections in TIME_WAIT.
Plain sockets stand in for the servers (the real ones: the restart tests in tests/realtime)."""
from __future__ import annotations

import socket

import pytest

from ..servers import HeldPort, held_port


def _connect(port: HeldPort) -> str:
    try:
        socket.create_connection(("127.0.0.1", port.number), timeout=5).close()
    except ConnectionRefusedError:
        return "refused"
    return "accepted"


def _bind(port: HeldPort, *, reuse_address: bool) -> str:
    """Another process's server binding the port itself (uvicorn, gunicorn and redis-server set
    SO_REUSEADDR first)."""
    with socket.socket() as other:
        if reuse_address:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            other.bind(("127.0.0.1", port.number))
            other.listen(8)
        except OSError:
            return "in use"
        return "bound"


def _serve_and_close(port: HeldPort, n: int) -> None:
    """`n` connections the server side closes first (so they end in TIME_WAIT on its side)."""
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port.number), timeout=5) as client:
            served, _ = port.sock.accept()
            assert served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # inherited from the held socket
            served.close()
            assert client.recv(1) == b""


@pytest.mark.parametrize("reuse_address", [False, True])
def test_nobody_else_can_take_a_held_port(reuse_address):
    with held_port(19500) as port, held_port(19500) as other:
        # given a held port no server listens on yet: connects are refused, as with no server
        assert other.number != port.number
        assert _connect(port) == "refused"
        assert _bind(port, reuse_address=reuse_address) == "in use"
        # when a server listens on it and stops (the server closes its connections first)
        port.listen()
        _serve_and_close(port, 3)
        assert _bind(port, reuse_address=reuse_address) == "in use"
        port.unlisten()
        # then connects are refused again and the port is still ours
        assert not port.listening()
        assert _connect(port) == "refused"
        assert _bind(port, reuse_address=reuse_address) == "in use"


def test_the_next_server_listens_although_the_last_left_time_wait():
    with held_port(19500) as port:
        port.listen()
        _serve_and_close(port, 3)
        port.unlisten()
        # the restarted server listens on the same socket (SO_REUSEPORT; without it: EADDRINUSE)
        port.listen()
        assert _connect(port) == "accepted"


def test_a_server_that_binds_itself_shares_the_port_only_while_starting():
    with held_port(19500) as port:
        # given a server that cannot adopt a socket (redis-server) binding next to the held one
        with port.shared():
            with socket.socket() as redis:
                redis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                redis.bind(("127.0.0.1", port.number))
                redis.listen(8)
                assert _connect(port) == "accepted"
                assert _bind(port, reuse_address=True) == "in use"
        # when it has stopped, the port refuses connects and is still ours
        assert _connect(port) == "refused"
        assert _bind(port, reuse_address=True) == "in use"
