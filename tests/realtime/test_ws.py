"""Websocket lifecycle: resume without gap or duplicate, truncation, slow consumer, token expiry
(4001), block (4003, pushed and by the periodic re-check), foreign Origin, admin stats."""
from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from outbox.control import sockets_recheck
from outbox.transport import DROPS
from outbox.models import EventOutbox
from outbox.services import publish, user_group

from .communicator import ws_close_code, ws_connect, ws_frames, ws_open


def _run(fn):
    return async_to_sync(fn)()


@database_sync_to_async
def _emit(group: str, n: int = 1, channel: str = "test.event") -> list[int]:
    ids = []
    for i in range(n):
        with transaction.atomic():
            ids += [r.id for r in publish(channel=channel, groups=[group], data={"i": i})]
    return ids


@database_sync_to_async
def _emit_batch(group: str, n: int) -> list[int]:
    with transaction.atomic():
        return [publish(channel="test.event", groups=[group], data={"i": i})[0].id for i in range(n)]


def _events(frames):
    return [f["id"] for f in frames if f.get("type") == "event"]


@pytest.mark.django_db(transaction=True)
def test_resume_replays_exactly_the_users_missed_events_then_live(seller, buyer):
    async def scenario():
        async with ws_connect(seller) as (comm, _):
            [seen] = await _emit(user_group(seller.pk))
            first = await ws_frames(comm)
        # Offline: 3 events for the seller, 2 for someone else.
        missed = []
        for _ in range(3):
            missed += await _emit(user_group(seller.pk))
            await _emit(user_group(buyer.pk))
        async with ws_connect(seller) as (comm, _):
            await comm.send_json_to({"type": "resume", "after": seen})
            replay = await ws_frames(comm)
            live = await _emit(user_group(seller.pk))
            after = await ws_frames(comm)
        return seen, first, missed, replay, live, after

    seen, first, missed, replay, live, after = _run(scenario)
    assert _events(first) == [seen]
    assert _events(replay) == missed
    assert replay[-1] == {"type": "resumed", "lastId": missed[-1], "count": 3}
    assert [f["data"]["i"] for f in replay if f["type"] == "event"] == [0, 0, 0]
    assert _events(after) == live


@pytest.mark.django_db(transaction=True)
def test_resume_does_not_send_a_live_frame_twice(seller, monkeypatch):
    """A row committed while the socket was offline but relayed after it reconnected arrives
    both from the replay and live: the socket writes it once."""
    async def scenario():
        from outbox.relay import relay_run

        async with ws_connect(seller) as (comm, _):
            with monkeypatch.context() as mp:  # the after-commit send never happens (process died)
                mp.setattr("outbox.services.send_rows", lambda rows: 0)
                ids = await _emit(user_group(seller.pk), 2)
            await database_sync_to_async(EventOutbox.objects.filter(id__in=ids).update)(next_attempt_at=timezone.now())
            await comm.send_json_to({"type": "resume", "after": 0})
            replay = await ws_frames(comm)
            stats = await database_sync_to_async(relay_run)()
            live = await ws_frames(comm)
        return ids, replay, stats, live

    ids, replay, stats, live = _run(scenario)
    assert _events(replay) == ids
    assert stats["sent"] == 2  # the layer did deliver them again ...
    assert _events(live) == []  # ... and the socket dropped them


@pytest.mark.django_db(transaction=True)
def test_resume_is_capped_at_resume_max_then_truncated(seller, settings):
    settings.RESUME_MAX = 4

    async def scenario():
        ids = await _emit_batch(user_group(seller.pk), 6)
        async with ws_connect(seller) as (comm, _):
            await comm.send_json_to({"type": "resume", "after": ids[0] - 1})
            first = await ws_frames(comm)
            await comm.send_json_to({"type": "resume", "after": first[-2]["lastId"]})
            second = await ws_frames(comm)
        return ids, first, second

    ids, first, second = _run(scenario)
    assert _events(first) == ids[:4]
    assert first[-2:] == [{"type": "resume_truncated", "lastId": ids[3]},
                          {"type": "resumed", "lastId": ids[3], "count": 4}]
    assert _events(second) == ids[4:]


@pytest.mark.django_db(transaction=True)
def test_resume_only_within_retention(seller, settings):
    old = timezone.now() - settings.OUTBOX_RETENTION - timedelta(minutes=1)

    async def scenario():
        [stale] = await _emit(user_group(seller.pk))
        await database_sync_to_async(EventOutbox.objects.filter(id=stale).update)(created_at=old)
        [fresh] = await _emit(user_group(seller.pk))
        async with ws_connect(seller) as (comm, _):
            await comm.send_json_to({"type": "resume", "after": 0})
            frames = await ws_frames(comm)
        return fresh, frames

    fresh, frames = _run(scenario)
    assert _events(frames) == [fresh]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("after", ["7", -1, None, True])
def test_bad_resume_is_an_error_frame(seller, after):
    async def scenario():
        async with ws_connect(seller) as (comm, _):
            await comm.send_json_to({"type": "resume", "after": after})
            return await ws_frames(comm)

    [frame] = _run(scenario)
    assert frame["type"] == "error" and frame["code"] == "bad_frame"


@pytest.mark.slow  # 300 events at one frame per 5 ms
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", [
    "outbox.transport.CountingInMemoryChannelLayer",
    pytest.param("outbox.transport.CountingRedisPubSubChannelLayer", marks=pytest.mark.redis),
])
def test_slow_consumer_gets_all_300_events_with_resume(seller, settings, backend, monkeypatch):
    """300 events at once to a process whose reader handles one frame per 5 ms with a 50-frame
    buffer: the layer drops (and counts) what does not fit; the hub replays the dropped rows from
    the outbox, the client resumes after the last id it has, and it ends up with all 300, in
    order, each once."""
    from dgt.asgi import application
    from realtime.wsevents.hub import EventsHub

    config = {"capacity": 50}
    if "Redis" in backend:
        config.update(hosts=[settings.REDIS_URL], prefix="dgt_i5_slow")
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": config}}

    import asyncio

    published = {}
    real_dispatch = EventsHub.dispatch

    async def slow_dispatch(self, message):
        if message.get("type") == "outbox.event":
            # Stuck until all 300 are published, then one frame per 5 ms: the buffer overflows
            # whatever the machine's load (a free-running reader kept up on a busy machine).
            await published["event"].wait()
            await asyncio.sleep(0.005)
        await real_dispatch(self, message)

    monkeypatch.setattr(EventsHub, "dispatch", slow_dispatch)

    async def scenario():
        published["event"] = asyncio.Event()
        async with ws_connect(seller, app=application) as (comm, _):
            drops_before = DROPS.count
            ids = await _emit_batch(user_group(seller.pk), 300)
            published["event"].set()
            got = _events(await ws_frames(comm, quiet=1.0))
            dropped = DROPS.count - drops_before
            while True:
                await comm.send_json_to({"type": "resume", "after": got[-1] if got else 0})
                frames = await ws_frames(comm, quiet=1.0)
                got += _events(frames)
                if not any(f["type"] == "resume_truncated" for f in frames):
                    break
        return ids, got, dropped

    ids, got, dropped = _run(scenario)
    assert dropped > 0, "the test must overflow the buffer to mean anything"
    assert got == ids


@pytest.mark.django_db(transaction=True)
def test_token_expiry_closes_4001(seller):
    token = jwt.encode({"sub": str(seller.pk), "role": "user", "token_type": "access", "jti": "x1",
                        "iat": int(time.time()), "exp": int(time.time()) + 2}, settings.JWT_SECRET, algorithm="HS256")

    async def scenario():
        async with ws_connect(token=token) as (comm, ready):
            return ready, await ws_close_code(comm)

    ready, code = _run(scenario)
    assert ready["type"] == "ready"
    assert code == 4001


@pytest.mark.django_db(transaction=True)
def test_block_closes_every_socket_of_the_user_4003(seller, buyer):
    async def scenario():
        @database_sync_to_async
        def block():
            with transaction.atomic():
                type(seller).objects.filter(pk=seller.pk).update(blocked_at=timezone.now())
                sockets_recheck(user_id=seller.pk)

        async with ws_connect(seller) as (a, _), ws_connect(seller) as (b, _), ws_connect(buyer) as (other, _):
            await block()
            codes = [await ws_close_code(a), await ws_close_code(b)]
            still_open = await ws_frames(other)
        return codes, still_open

    codes, still_open = _run(scenario)
    assert codes == [4003, 4003]
    assert still_open == []


@pytest.mark.django_db(transaction=True)
def test_periodic_recheck_closes_a_demoted_moderator_4003(moderator, settings):
    """The safety net: no control message is sent, the socket's own re-check finds the change."""
    settings.WS_RECHECK_SECONDS = 0.3

    async def scenario():
        async with ws_connect(moderator) as (comm, ready):
            await database_sync_to_async(type(moderator).objects.filter(pk=moderator.pk).update)(role=Role.USER)
            return ready, await ws_close_code(comm)

    ready, code = _run(scenario)
    assert "admin" in ready["groups"]
    assert code == 4003


@pytest.mark.django_db(transaction=True)
def test_periodic_recheck_reads_the_local_users_in_chunks_and_misses_none(seller, buyer, moderator, settings,
                                                                          monkeypatch):
    """Chunk of one user: the last user read (whatever the order) is still found blocked."""
    from realtime import fanout

    monkeypatch.setattr(fanout, "RECHECK_CHUNK", 1)
    settings.WS_RECHECK_SECONDS = 0.3
    reads = []
    real = fanout.users_read

    def counted(user_ids):
        reads.append(len(user_ids))
        return real(user_ids)

    monkeypatch.setattr(fanout, "users_read", counted)

    async def scenario():
        async with ws_connect(seller) as (a, _), ws_connect(buyer) as (b, _), ws_connect(moderator) as (c, _):
            for user in (seller, buyer, moderator):
                await database_sync_to_async(type(user).objects.filter(pk=user.pk).update)(
                    blocked_at=timezone.now())
            return [await ws_close_code(a), await ws_close_code(b), await ws_close_code(c)]

    assert _run(scenario) == [4003, 4003, 4003]
    assert reads and max(reads) == 1


@pytest.mark.django_db(transaction=True)
def test_foreign_origin_refused_before_accept(seller):
    async def scenario():
        async with ws_open(headers=[(b"origin", b"https://evil.example")]) as (_, connected):
            pass
        async with ws_open(headers=[(b"origin", b"http://localhost:8000")]) as (_, ok_connected):
            pass
        return connected, ok_connected

    connected, ok_connected = _run(scenario)
    # websocket.close before websocket.accept: the server answers the handshake with HTTP 403.
    assert connected is False
    assert ok_connected is True


@pytest.mark.django_db(transaction=True)
def test_admin_socket_gets_stats_on_join_and_when_they_change(admin_user, seller, settings):
    settings.ADMIN_STATS_INTERVAL_SECONDS = 0.2
    from listings.services import listing_create

    async def scenario():
        async with ws_connect(admin_user) as (comm, _):
            first = await comm.receive_json_from(timeout=5)
            await database_sync_to_async(listing_create)(owner=seller, title="Desk", description="Oak",
                                                         category="furniture", price="100.00")
            frames = await ws_frames(comm, quiet=0.8)
        return first, frames

    first, frames = _run(scenario)
    assert first["type"] == "stats" and first["channel"] == "admin.stats"
    assert first["data"]["pendingListings"] == 0
    stats = [f for f in frames if f["type"] == "stats"]
    # Only the changed snapshot was pushed (nothing while nothing changed).
    assert [s["data"]["pendingListings"] for s in stats] == [1]
    alerts = [f for f in frames if f.get("channel") == "admin.alert"]
    assert [a["data"]["kind"] for a in alerts] == ["listing.pending"]
