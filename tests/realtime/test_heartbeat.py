"""Dead connections are dropped: a client that stops answering the server's pings (a peer gone
without a TCP close) is disconnected by daphne, and its socket leaves its groups.

Runs a real daphne with short ping settings (production: Procfile, 20 s / 30 s). The group
membership is observed from outside through Redis: the process unsubscribes the group channel."""
from __future__ import annotations

import base64
import os
import socket
import time

import pytest
import redis
from django.conf import settings

from accounts.tokens import token_pair_for
from outbox.services import user_group

from ..outbox_servers import BIN, free_port, process, services_env


def _subscribers(client, group: str) -> int:
    channel = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}__group__{group}"
    return dict(client.pubsub_numsub(channel))[channel.encode()]


def _wait_for(predicate, timeout: float = 30) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.services
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_silent_peer_is_dropped_by_the_ping_timeout(seller, tmp_path):
    port = free_port(19580)
    args = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "--ping-interval", "1", "--ping-timeout", "2",
            "dgt.asgi:application"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    group = user_group(seller.pk)
    with process(args, services_env(), tmp_path / "daphne.log", port):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall((f"GET /ws/events/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                     f"Authorization: Bearer {token_pair_for(seller)['access']}\r\n\r\n").encode())
        received = b""
        while b'"ready"' not in received:
            chunk = raw.recv(4096)
            assert chunk, received
            received += chunk
        assert b"101 Switching Protocols" in received
        assert _subscribers(client, group) == 1
        # From now on the client reads nothing and answers no ping: a dead peer.
        assert _wait_for(lambda: _subscribers(client, group) == 0), "socket still in its group"
        # ... and the server has closed (or reset) the TCP connection.
        raw.settimeout(10)
        closed = False
        try:
            while raw.recv(4096):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        finally:
            raw.close()
    assert closed
