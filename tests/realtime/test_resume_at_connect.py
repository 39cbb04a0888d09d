"""Resume at connect (docs/realtime.md, reconnect storm): `?after=<id>` or `"after"` in the auth
frame replays the missed rows right after `ready`, before any live frame, once and in id order."""
from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import transaction

from accounts.tokens import access_token_for
from outbox.services import publish, user_group

from .communicator import ws_frames, ws_open


@database_sync_to_async
def _emit(group: str, n: int) -> list[int]:
    ids = []
    for i in range(n):
        with transaction.atomic():
            ids += [r.id for r in publish(channel="test.event", groups=[group], data={"i": i})]
    return ids


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["query", "auth_frame"])
def test_resume_at_connect_replays_before_live_frames(seller, buyer, how):
    async def scenario():
        seen = (await _emit(user_group(seller.pk), 1))[0]
        missed = await _emit(user_group(seller.pk), 3)
        await _emit(user_group(buyer.pk), 2)  # someone else's: never replayed here
        token = access_token_for(seller)
        if how == "query":
            socket = ws_open(f"/ws/events/?after={seen}", headers=[(b"authorization", f"Bearer {token}".encode())])
        else:
            socket = ws_open()
        async with socket as (comm, accepted):
            assert accepted
            if how == "auth_frame":
                await comm.send_to(text_data=json.dumps({"type": "auth", "token": token, "after": seen}))
            replay = await ws_frames(comm)
            live = await _emit(user_group(seller.pk), 1)
            after = await ws_frames(comm)
        return missed, replay, live, after

    missed, replay, live, after = async_to_sync(scenario)()
    assert [f["type"] for f in replay] == ["ready", "event", "event", "event", "resumed"]
    assert [f["id"] for f in replay if f["type"] == "event"] == missed
    assert replay[-1] == {"type": "resumed", "lastId": missed[-1], "count": 3}
    assert [f["id"] for f in after if f["type"] == "event"] == live


@pytest.mark.django_db(transaction=True)
def test_bad_after_at_connect_is_an_error_frame_and_no_replay(seller):
    async def scenario():
        await _emit(user_group(seller.pk), 2)
        headers = [(b"authorization", f"Bearer {access_token_for(seller)}".encode())]
        async with ws_open("/ws/events/?after=-3", headers=headers) as (comm, accepted):
            assert accepted
            return await ws_frames(comm)

    frames = async_to_sync(scenario)()
    assert [f["type"] for f in frames] == ["ready", "error"]
    assert frames[1]["code"] == "bad_frame"
