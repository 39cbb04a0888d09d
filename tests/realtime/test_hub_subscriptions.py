"""A hub subscribes the groups its sockets join in batches: the groups queued at one moment (a
reconnect storm's thousands of `user.<id>`) go to the layer as one group_add_many, one SUBSCRIBE
per Redis shard (realtime.fanout.LayerHub.join, outbox.transport; docs/operations.md)."""
from __future__ import annotations

import asyncio

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings

from outbox.transport import group_channel_name
from realtime.wsevents.hub import EventsHub


def _spy(monkeypatch, layer, fail: Exception | None = None) -> list[list[str]]:
    calls: list[list[str]] = []
    real = layer.group_add_many

    async def counted(groups, channel):
        calls.append(list(groups))
        if fail is not None:
            raise fail
        return await real(groups, channel)

    monkeypatch.setattr(layer, "group_add_many", counted, raising=False)
    return calls


def _stop(hub: EventsHub) -> None:
    for task in list(hub._tasks):
        task.cancel()


def test_the_groups_joined_at_one_moment_are_subscribed_in_one_call(monkeypatch):
    groups = [f"user.{900000 + i}" for i in range(200)]

    async def scenario():
        hub = EventsHub()
        await hub.start()
        calls = _spy(monkeypatch, hub.layer)
        await asyncio.gather(*(hub.join(g) for g in groups), *(hub.join(g) for g in groups[:50]))
        late = list(calls)
        await hub.join(groups[0])  # already subscribed: no call
        await hub.join("public")  # a later moment: a call of its own
        _stop(hub)
        return late, calls, hub

    late, calls, hub = asyncio.run(scenario())
    assert late == [groups]  # 250 joins of 200 groups: one call, each group once
    assert calls == [groups, ["public"]]
    assert all(hub.refs[g] == (3 if i == 0 else 2 if i < 50 else 1) for i, g in enumerate(groups))
    assert set(hub.subscribed_ns) == {*groups, "public"} and not hub._subscribing and hub._subscriber is None


def test_a_failed_subscription_reaches_every_joiner_of_it_and_the_next_join_tries_again(monkeypatch):
    async def scenario():
        hub = EventsHub()
        await hub.start()
        calls = _spy(monkeypatch, hub.layer, fail=ConnectionError("redis down"))
        results = await asyncio.gather(hub.join("user.1"), hub.join("user.2"), hub.join("user.1"),
                                       return_exceptions=True)
        state = (dict(hub.refs), dict(hub.subscribed_ns), dict(hub._subscribing))
        monkeypatch.undo()
        await hub.join("user.1")
        _stop(hub)
        return results, calls, state, hub

    results, calls, (refs, subscribed, subscribing), hub = asyncio.run(scenario())
    assert [type(r) for r in results] == [ConnectionError] * 3
    assert calls == [["user.1", "user.2"]]
    assert refs == {} and subscribed == {} and subscribing == {}  # nobody counted, nothing half-done
    assert hub.refs == {"user.1": 1} and set(hub.subscribed_ns) == {"user.1"}


@pytest.mark.services
def test_on_redis_one_subscribe_command_carries_every_group_and_each_group_delivers(monkeypatch):
    from redis.asyncio.client import PubSub

    commands: list[tuple] = []
    real_subscribe = PubSub.subscribe

    async def subscribe(self, *args, **kwargs):
        commands.append(args)
        return await real_subscribe(self, *args, **kwargs)

    monkeypatch.setattr(PubSub, "subscribe", subscribe)
    layer = get_channel_layer()
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    groups = [f"contract.many.{i}" for i in range(300)]
    names = [group_channel_name(prefix, g) for g in groups]
    sync_redis = redis.Redis.from_url(settings.REDIS_URL)

    async def scenario():
        channel = await layer.new_channel()
        commands.clear()
        await layer.group_add_many(groups, channel)
        subscribes = list(commands)
        # the SUBSCRIBE is written, not yet necessarily read by Redis (as with channels_redis's own
        # subscribe): wait until Redis counts it (a bound against a hang, not a timing)
        for _ in range(500):
            counts = dict(sync_redis.pubsub_numsub(*names))
            if all(counts[n.encode()] == 1 for n in names):
                break
            await asyncio.sleep(0.01)
        await layer.group_send(groups[7], {"type": "probe", "n": 7})
        await layer.group_send(groups[299], {"type": "probe", "n": 299})
        got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(2)]
        for group in groups:  # channels_redis's own discard sees what group_add_many subscribed
            await layer.group_discard(group, channel)
        await layer.flush()
        return subscribes, counts, got

    subscribes, counts, got = asyncio.run(scenario())
    assert subscribes == [tuple(names)]  # one SUBSCRIBE for 300 groups
    assert all(counts[n.encode()] == 1 for n in names)
    assert sorted(m["n"] for m in got) == [7, 299]
    assert all(n == 0 for _, n in sync_redis.pubsub_numsub(*names))
