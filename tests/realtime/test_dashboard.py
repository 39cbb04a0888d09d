"""The admin dashboard's snapshot: published once per deployment by the relay loop
(outbox.dashboard), forwarded by each ws process (realtime.dashboard); docs/realtime.md,
"Admin dashboard stats"."""
from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from outbox.dashboard import DASHBOARD_GROUP, DashboardPublisher
from outbox.loop import RelayLoop
from realtime import dashboard

from .communicator import ws_connect, ws_frames


def _create_listing(seller):
    from listings.services import listing_create

    listing_create(owner=seller, title="Desk", description="Oak", category="furniture", price="100.00")


@pytest.fixture
def counted_snapshots(monkeypatch):
    """How many times a ws process computed the snapshot itself."""
    calls = []
    real = dashboard.stats_snapshot

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(dashboard, "stats_snapshot", counting)
    return calls


@pytest.mark.django_db(transaction=True)
def test_the_publisher_sends_a_changed_snapshot_once_and_an_unchanged_one_only_to_refresh(seller, settings):
    settings.ADMIN_STATS_INTERVAL_SECONDS = 0
    settings.ADMIN_STATS_REFRESH_SECONDS = 100

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(DASHBOARD_GROUP, channel)
        publisher = DashboardPublisher()
        sent = [await database_sync_to_async(publisher.tick)(now=t) for t in (1.0, 2.0)]
        await database_sync_to_async(_create_listing)(seller)
        sent.append(await database_sync_to_async(publisher.tick)(now=3.0))
        sent.append(await database_sync_to_async(publisher.tick)(now=200.0))  # refresh
        messages = [await asyncio.wait_for(layer.receive(channel), 1) for _ in range(sum(sent))]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.2)
        return sent, messages

    sent, messages = async_to_sync(scenario)()
    assert sent == [True, False, True, True]
    frames = [json.loads(m["text"]) for m in messages]
    assert [f["data"]["pendingListings"] for f in frames] == [0, 1, 1]
    assert all(m["type"] == "admin.stats" and f["channel"] == "admin.stats" for m, f in zip(messages, frames))
    assert messages[1]["key"] == messages[2]["key"] != messages[0]["key"]


@pytest.mark.django_db(transaction=True)
def test_the_publisher_waits_its_interval_and_survives_a_failing_layer(settings, monkeypatch):
    settings.ADMIN_STATS_INTERVAL_SECONDS = 1
    publisher = DashboardPublisher()
    assert publisher.tick(now=10.0) is True
    assert publisher.tick(now=10.5) is False  # computed at most once per interval

    def down(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr("outbox.dashboard.async_to_sync", lambda fn: down)
    settings.ADMIN_STATS_REFRESH_SECONDS = 0
    key = publisher.key
    assert publisher.tick(now=20.0) is False  # logged, not raised
    assert publisher.key == key  # not taken for sent: the next tick publishes it


@pytest.mark.django_db(transaction=True)
def test_the_relay_loop_publishes_the_snapshot(settings):
    settings.ADMIN_STATS_INTERVAL_SECONDS = 0

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(DASHBOARD_GROUP, channel)
        out = await database_sync_to_async(RelayLoop().tick)()
        return out, await asyncio.wait_for(layer.receive(channel), 1)

    out, message = async_to_sync(scenario)()
    assert out["dashboard"] is True and json.loads(message["text"])["type"] == "stats"


@pytest.mark.django_db(transaction=True)
def test_a_ws_process_that_hears_the_relay_forwards_its_snapshots_and_stops_computing(
        admin_user, seller, settings, counted_snapshots):
    settings.ADMIN_STATS_INTERVAL_SECONDS = 0.1
    settings.ADMIN_STATS_STALE_SECONDS = 30

    async def scenario():
        publisher = DashboardPublisher()
        async with ws_connect(admin_user) as (comm, _):
            first = await comm.receive_json_from(timeout=5)  # computed by the process: nothing heard yet
            await database_sync_to_async(publisher.tick)(now=1.0)
            await asyncio.sleep(0.3)
            computed = len(counted_snapshots)
            await database_sync_to_async(_create_listing)(seller)
            await database_sync_to_async(publisher.tick)(now=2.0)
            frames = await ws_frames(comm, quiet=0.8)
            return first, frames, computed, len(counted_snapshots)

    first, frames, computed, computed_after = async_to_sync(scenario)()
    assert first["type"] == "stats" and first["data"]["pendingListings"] == 0
    assert [f["data"]["pendingListings"] for f in frames if f["type"] == "stats"] == [1]
    assert computed >= 1 and computed_after == computed  # nothing computed once the relay was heard


@pytest.mark.django_db(transaction=True)
def test_an_admin_joining_gets_the_last_snapshot_at_once(admin_user, settings):
    settings.ADMIN_STATS_INTERVAL_SECONDS = 30  # no tick during the test: the join is what sends

    async def scenario():
        async with ws_connect(admin_user) as (first_comm, _):
            first = await first_comm.receive_json_from(timeout=5)
            async with ws_connect(admin_user) as (second_comm, _):
                second = await second_comm.receive_json_from(timeout=2)
        return first, second

    first, second = async_to_sync(scenario)()
    assert first == second and first["channel"] == "admin.stats"
