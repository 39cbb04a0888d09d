"""Redis (the channel layer's) stopped during 100 approvals: every request succeeds, the rows
wait; after Redis restarts the relay sends all of them and a resumed socket has all 100.

Uses a private redis-server on one of the end-to-end tests' ports (19500-19599), never the shared one."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from listings.models import Listing, ListingStatus
from outbox.models import EventOutbox, OutboxStatus
from outbox.relay import relay_run
from outbox.services import user_group

from ..listings.factories import ListingFactory
from ..realtime.communicator import ws_connect, ws_frames
from ..servers import private_redis


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_redis_down_during_100_approvals_loses_nothing(settings, tmp_path, seller, moderator, api_for):
    settings.OUTBOX_FIRST_RETRY_SECONDS = 0  # due at once for the relay below
    listings = [ListingFactory(owner=seller) for _ in range(100)]
    client = api_for(moderator)
    with private_redis(tmp_path, 19540) as redis:
        settings.CHANNEL_LAYERS = {"default": {
            "BACKEND": "outbox.transport.CountingRedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis.url], "prefix": "dgt_i5_down", "capacity": 1000}}}
        # Redis up: the path works end to end.
        first = client.post(f"/api/listings/{listings[0].pk}/approve", {"reason": "ok"}, format="json")
        assert first.status_code == 200
        assert set(EventOutbox.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}
        redis.stop()
        statuses = [client.post(f"/api/listings/{listing.pk}/approve", {"reason": "ok"}, format="json").status_code
                    for listing in listings[1:]]
        assert statuses == [200] * 99
        assert Listing.objects.filter(status=ListingStatus.APPROVED).count() == 100
        pending = EventOutbox.objects.filter(status=OutboxStatus.PENDING)
        assert pending.filter(channel="listings.update", group=user_group(seller.pk)).count() == 99
        # Rows that failed carry the error; later rows of the same groups wait behind them (id order).
        assert EventOutbox.objects.filter(status=OutboxStatus.SENT).count() == 3  # the first approval's
        assert pending.exclude(last_error="").exists()
        waiting = pending.count()
        redis.start()
        result = relay_run()
        assert result["sent"] == waiting
        assert not EventOutbox.objects.exclude(status=OutboxStatus.SENT).exists()

        async def resume():
            async with ws_connect(seller) as (comm, _):
                await comm.send_json_to({"type": "resume", "after": 0})
                frames = await ws_frames(comm, quiet=1.0)
            return frames

        frames = async_to_sync(resume)()
    updates = [f["data"]["id"] for f in frames if f.get("channel") == "listings.update"]
    assert sorted(updates) == sorted(listing.pk for listing in listings)
    ids = [f["id"] for f in frames if f.get("type") == "event"]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    connection.close()
