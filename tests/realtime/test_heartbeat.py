"""Dead connections are dropped: a client that stops answering the server's pings (a peer gone
without a TCP close) is disconnected by daphne, and its socket leaves its groups.

Runs a real daphne with short ping settings (production: Procfile, 20 s / 30 s). The group
membership is observed from outside through Redis: the process unsubscribes the group channel."""
from __future__ import annotations

import json

import pytest
import redis
from django.conf import settings

from accounts.tokens import access_token_for
from outbox.services import user_group

from ..servers import daphne, eventually, held_port, services_env
from .rawws import RawSocket


def _subscribers(client, group: str) -> int:
    channel = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}__group__{group}"
    return dict(client.pubsub_numsub(channel))[channel.encode()]


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_silent_peer_is_dropped_by_the_ping_timeout(seller, tmp_path):
    client = redis.Redis.from_url(settings.REDIS_URL)
    group = user_group(seller.pk)
    with held_port(19580) as port, daphne(port, services_env(), tmp_path / "daphne.log",
                                          flags=("--ping-interval", "1", "--ping-timeout", "2")):
        ws = RawSocket(port.number, headers={"Authorization": f"Bearer {access_token_for(seller)}"}, timeout=10)
        try:
            assert ws.status == 101
            opcode, payload = ws.recv_frame()
            while opcode != 0x1:  # a ping may come first on a loaded machine
                opcode, payload = ws.recv_frame()
            assert json.loads(payload)["type"] == "ready"
            assert _subscribers(client, group) == 1
            # From now on the client reads nothing and answers no ping: a dead peer.
            left = eventually(lambda: _subscribers(client, group) == 0, within=30, every=0.2)
            assert left, "socket still in its group"
            # ... and the server has closed (or reset) the TCP connection.
            closed = False
            try:
                while ws.sock.recv(4096):
                    pass
                closed = True
            except ConnectionResetError:
                closed = True
        finally:
            ws.close()
    assert closed
