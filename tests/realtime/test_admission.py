"""At most WS_HANDSHAKES_IN_FLIGHT `/ws/events/` handshakes run at once per process; the others
wait for a slot and are all served (realtime.admission; docs/operations.md)."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync

from realtime.wsevents import socket as ws_socket

from ..accounts.factories import UserFactory
from .communicator import ws_connect


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("limit", "most_at_once"), [(2, 2), (0, 6)])
def test_handshakes_beyond_the_limit_wait_for_a_slot_and_are_all_served(settings, monkeypatch, limit, most_at_once):
    settings.WS_HANDSHAKES_IN_FLIGHT = limit
    users = UserFactory.create_batch(6, password=None)
    in_flight, peak = [0], [0]
    real = ws_socket.handshake_read

    async def slow_read(user_id, **kwargs):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        try:
            await asyncio.sleep(0.05)  # every handshake is in its read at the same moment
            return await real(user_id, **kwargs)
        finally:
            in_flight[0] -= 1

    monkeypatch.setattr(ws_socket, "handshake_read", slow_read)

    async def scenario():
        all_ready = asyncio.Event()
        readies: list[dict] = []

        async def one(user):
            async with ws_connect(user) as (_, ready):
                readies.append(ready)
                if len(readies) == len(users):
                    all_ready.set()
                await asyncio.wait_for(all_ready.wait(), 10)

        await asyncio.gather(*(one(u) for u in users))
        return readies

    readies = async_to_sync(scenario)()
    assert sorted(r["userId"] for r in readies) == sorted(u.pk for u in users)
    assert peak[0] == most_at_once
