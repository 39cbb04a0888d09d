"""Handshake reads batched across the sockets connecting at once, and the catch-up a new Socket.IO
session skips when its groups were subscribed before its watermark was read (realtime.handshakes,
docs/realtime.md "Connect path")."""
from __future__ import annotations

import asyncio

import pytest
from django.db import OperationalError

from accounts.tokens import access_token_for
from outbox.models import EventOutbox
from outbox.services import publish
from realtime import handshakes
from realtime.socketio.hub import NAMESPACE
from realtime.socketio.server import build_server

from ..accounts.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the reads go through db_call, on its own connection


def _counting(monkeypatch) -> list[tuple[list[int], list[int]]]:
    calls: list[tuple[list[int], list[int]]] = []
    real = handshakes.read_batch

    def counted(user_ids, afters, **kwargs):
        calls.append((sorted(user_ids), sorted(afters)))
        return real(user_ids, afters, **kwargs)

    monkeypatch.setattr(handshakes, "read_batch", counted)
    return calls


def test_concurrent_handshakes_are_read_in_one_batch(monkeypatch):
    users = UserFactory.create_batch(20, password=None)
    inactive = UserFactory(password=None, is_active=False)
    publish(channel="listings.update", groups=[f"user.{users[0].pk}"], data={"id": 1})
    kept = EventOutbox.objects.latest("id").id
    calls = _counting(monkeypatch)

    async def connect_all():
        reads = [handshakes.handshake_read(u.pk) for u in users]
        reads.append(handshakes.handshake_read(inactive.pk, after=kept))
        reads.append(handshakes.handshake_read(users[0].pk, after=kept + 1000))
        return await asyncio.gather(*reads)

    batches = asyncio.run(connect_all())
    assert len(calls) == 1  # 22 handshakes, one database call
    assert calls[0] == (sorted(u.pk for u in [*users, inactive]), [kept, kept + 1000])
    for user, batch in zip(users, batches):
        assert batch.users[user.pk].pk == user.pk
    batch = batches[0]
    assert inactive.pk not in batch.users  # inactive users are not read as users
    assert batch.watermark == kept
    assert batch.replayable_after(kept, None) and not batch.replayable_after(kept + 1000, None)


def test_a_database_error_reaches_every_handshake_of_the_batch_and_the_next_batch_reads_again(monkeypatch):
    users = UserFactory.create_batch(3, password=None)
    failing = [True]
    real = handshakes.read_batch

    def flaky(user_ids, afters, **kwargs):
        if failing.pop() if failing else False:
            raise OperationalError("server closed the connection unexpectedly")
        return real(user_ids, afters, **kwargs)

    monkeypatch.setattr(handshakes, "read_batch", flaky)

    async def connect_all():
        return await asyncio.gather(*(handshakes.handshake_read(u.pk) for u in users), return_exceptions=True)

    first = asyncio.run(connect_all())
    assert [type(r) for r in first] == [OperationalError] * 3
    second = asyncio.run(connect_all())
    assert [sorted(b.users) for b in second] == [sorted(u.pk for u in users)] * 3


def _connect(server, eio_sid: str, token: str) -> tuple[str, int, bool]:
    """Run the server's connect handler for a new socket; (sid, catch-up point, whether rows are read)."""
    loop = asyncio.get_event_loop()
    sid = loop.run_until_complete(server.manager.connect(eio_sid, NAMESPACE))
    assert loop.run_until_complete(server._on_connect(sid, {}, {"token": token})) is True
    return server._after.pop(eio_sid)


def test_a_new_session_whose_groups_were_subscribed_first_reads_no_catch_up(monkeypatch, seller, buyer, moderator):
    publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 1})
    mark = EventOutbox.objects.latest("id").id
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = build_server()
    try:
        # The first socket of the process: `public` is subscribed after the watermark was read,
        # so an event for it may have slipped in between: it reads its catch-up.
        assert _connect(server, "eio-1", access_token_for(seller))[1:] == (mark, True)
        # The next: its own group before the read, `public` long before: nothing to read.
        assert _connect(server, "eio-2", access_token_for(buyer))[1:] == (mark, False)
        # A moderator: `admin` is new to the process, so it reads.
        assert _connect(server, "eio-3", access_token_for(moderator))[2] is True
        assert server.hub.refs == {f"user.{seller.pk}": 1, "public": 3, f"user.{buyer.pk}": 1,
                                   f"user.{moderator.pk}": 1, "admin": 1}
    finally:
        for sid in list(server.hub.sockets):  # leaves the dashboard's process-wide stats hub too
            loop.run_until_complete(server.hub.detach(sid))
        for task in server.hub._tasks:  # the hub's reader and recheck loop
            task.cancel()
        loop.run_until_complete(asyncio.gather(*server.hub._tasks, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


def test_concurrent_replays_are_read_in_one_query(monkeypatch, seller, buyer):
    from realtime import replays

    for i in range(6):
        publish(channel="listings.update", groups=[f"user.{(seller, buyer)[i % 2].pk}"], data={"i": i})
    first = EventOutbox.objects.order_by("id").first().id
    calls = []
    real = replays.group_rows_after_many

    def counted(requests, **kwargs):
        calls.append(len(requests))
        return real(requests, **kwargs)

    monkeypatch.setattr(replays, "group_rows_after_many", counted)

    async def resume_all():
        return await asyncio.gather(*(replays.replay_read([f"user.{u.pk}"], first - 1 + k, 100)
                                      for k in range(3) for u in (seller, buyer)))

    answers = asyncio.run(resume_all())
    assert calls == [6]
    assert [[row[0] for row in rows] for rows in answers][:2] == [
        [first, first + 2, first + 4], [first + 1, first + 3, first + 5]]


def test_a_batch_of_ws_events_handshakes_does_not_read_the_outbox(seller, monkeypatch):
    # /ws/events/ never uses the watermark: its handshakes must not wait on the outbox table.
    publish(channel="listings.update", groups=[f"user.{seller.pk}"], data={"id": 1})
    reads = []
    real = handshakes.watermark
    monkeypatch.setattr(handshakes, "watermark", lambda: reads.append(1) or real())

    async def connect(*needs):
        return await asyncio.gather(*(handshakes.handshake_read(seller.pk, watermark=n) for n in needs))

    [batch] = asyncio.run(connect(False))
    assert batch.users[seller.pk].pk == seller.pk and batch.watermark == 0 and reads == []
    mixed = asyncio.run(connect(False, True))  # a Socket.IO handshake in the batch needs it
    assert reads == [1] and mixed[1].watermark == EventOutbox.objects.latest("id").id


def _block_during_the_read(monkeypatch, module, user, then):
    """Make `module.handshake_read` block `user` (in the database) right after the real read and
    then run `then(user_id)` (what outbox.control's recheck does on that process)."""
    from asgiref.sync import sync_to_async
    from django.utils import timezone

    from accounts.models import User

    real = handshakes.handshake_read

    async def read_then_block(user_id, **kwargs):
        batch = await real(user_id, **kwargs)
        await sync_to_async(User.objects.filter(pk=user_id).update)(blocked_at=timezone.now(), block_until=None)
        await then(user_id)
        return batch

    monkeypatch.setattr(module, "handshake_read", read_then_block)


def test_a_socketio_user_blocked_while_their_handshake_reads_is_refused(monkeypatch, seller):
    from socketio.exceptions import ConnectionRefusedError

    from realtime.socketio import server as sio_server
    from realtime.socketio.auth import INVALID_TOKEN

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = build_server()
    _block_during_the_read(monkeypatch, sio_server, seller, lambda user_id: server.hub.recheck([user_id]))
    try:
        sid = loop.run_until_complete(server.manager.connect("eio-1", NAMESPACE))
        with pytest.raises(ConnectionRefusedError) as refused:
            loop.run_until_complete(server._on_connect(sid, {}, {"token": access_token_for(seller)}))
        assert refused.value.error_args == {"message": INVALID_TOKEN}
        assert server.hub.sockets == {} and server.hub.refs == {} and server.hub.handshaking == {}
    finally:
        for task in server.hub._tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*server.hub._tasks, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


def test_a_ws_events_user_blocked_while_their_handshake_reads_is_closed_4003(monkeypatch, seller):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from outbox.control import RECHECK
    from outbox.services import user_group
    from realtime.wsevents import socket as ws_socket
    from realtime.wsevents.socket import CLOSE_FORBIDDEN

    from .communicator import ws_close_code, ws_open

    async def recheck(user_id):  # outbox.control.sockets_recheck, as the block's commit sends it
        await get_channel_layer().group_send(user_group(user_id), {"type": RECHECK, "userId": user_id})

    _block_during_the_read(monkeypatch, ws_socket, seller, recheck)

    async def scenario():
        headers = [(b"authorization", f"Bearer {access_token_for(seller)}".encode())]
        async with ws_open(headers=headers) as (comm, accepted):
            assert accepted
            ready = await comm.receive_json_from(timeout=5)
            return ready["type"], await ws_close_code(comm, timeout=5)

    assert async_to_sync(scenario)() == ("ready", CLOSE_FORBIDDEN)
