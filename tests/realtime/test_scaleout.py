"""Scale-out (services mode): two daphne processes on one channels-redis. A user with a socket on
each gets every event on both, admins on both get `admin` events, a block closes both sockets."""
from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from django.db import transaction
from django.utils import timezone

from accounts.tokens import access_token_for
from outbox.control import sockets_recheck
from outbox.services import GROUP_ADMIN, publish, user_group

from ..servers import daphne, held_port, services_env

pytestmark = pytest.mark.slow


async def _connect(url: str, user):
    ws = await websockets.connect(url, open_timeout=10)
    await ws.send(json.dumps({"type": "auth", "token": access_token_for(user)}))
    ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ready["type"] == "ready", ready
    return ws


async def _events(ws, n: int) -> list[dict]:
    out = []
    while len(out) < n:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if frame["type"] == "event":
            out.append(frame)
    return out


async def _close_code(ws) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 15)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


def _publish(channel, groups, data):
    with transaction.atomic():
        return publish(channel=channel, groups=groups, data=data)


@pytest.mark.services
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_two_daphne_processes_share_events_and_blocks(seller, admin_user, tmp_path):
    env = services_env()
    with held_port(19520) as port_a, daphne(port_a, env, tmp_path / "a.log"):
        with held_port(19520) as port_b, daphne(port_b, env, tmp_path / "b.log"):
            urls = [f"ws://127.0.0.1:{p.number}/ws/events/" for p in (port_a, port_b)]

            async def scenario():
                users = [await _connect(u, seller) for u in urls]
                admins = [await _connect(u, admin_user) for u in urls]
                user_rows = []
                for i in range(5):
                    user_rows += await asyncio.to_thread(_publish, "test.event", [user_group(seller.pk)], {"i": i})
                admin_rows = await asyncio.to_thread(_publish, "admin.alert", [GROUP_ADMIN], {"kind": "t", "message": "m"})
                got_users = [[f["id"] for f in await _events(ws, 5)] for ws in users]
                got_admins = [[f["id"] for f in await _events(ws, 1)] for ws in admins]

                def block():
                    with transaction.atomic():
                        type(seller).objects.filter(pk=seller.pk).update(blocked_at=timezone.now())
                        sockets_recheck(user_id=seller.pk)

                await asyncio.to_thread(block)
                codes = [await _close_code(ws) for ws in users]
                for ws in admins:
                    await ws.close()
                return [r.id for r in user_rows], [r.id for r in admin_rows], got_users, got_admins, codes

            user_ids, admin_ids, got_users, got_admins, codes = asyncio.run(scenario())
    assert got_users == [user_ids, user_ids]
    assert got_admins == [admin_ids, admin_ids]
    assert codes == [4003, 4003]
