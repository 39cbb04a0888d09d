"""Read replica routing (core.db, docs/operations.md) against a REAL streaming replica.

The module starts a hot standby of the test PostgreSQL server (pg_basebackup -R, pg_ctl; see
tests/core/standby.py), points a `replica` database alias at it, and pauses WAL replay so the
replica visibly lags: a lag-tolerant read (search, the public banner feed, an admin list page, the
dashboard counts) then misses what the primary just committed, while writes, reads inside a
transaction and read-your-own-writes paths (the wallet after a refund) see it at once.
"""
from __future__ import annotations

import contextlib
import copy
import os
import uuid
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from accounts.models import Role
from banners.selectors import feed_cache_keys
from core.db import REPLICA, lag_tolerant_reads, read_alias
from core.stats import stats_snapshot
from listings.models import Listing
from tests.listings.factories import ListingFactory

from .standby import replay_pause, replay_resume, start_standby, wait_replayed

# The `replica` alias exists for this module only (registered below, before each test's database
# set-up); MIRROR keeps the test runner from flushing the read-only standby after each test.
pytestmark = [pytest.mark.services, pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.django_db(transaction=True, databases=["default", REPLICA])]

REPLICA_PORT = int(os.environ.get("DGT_REPLICA_PORT", "19890"))


@pytest.fixture(scope="module", autouse=True)
def standby(django_db_setup):
    """A hot standby of the test server, as the `replica` alias (the test database by then exists)."""
    primary = connections.settings["default"]
    if primary["ENGINE"] != "django.db.backends.postgresql":
        yield None  # embedded: the markers skip (or fail, in CI) every test of the module
        return
    s = start_standby(primary_host=primary["HOST"] or "127.0.0.1", primary_port=int(primary["PORT"] or 5432),
                      port=REPLICA_PORT)
    conf = copy.deepcopy(primary)  # NAME is the test database
    conf.update(HOST="127.0.0.1", PORT=str(s.port), CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
    conf["OPTIONS"] = {k: v for k, v in conf.get("OPTIONS", {}).items() if k != "pool"}
    conf["TEST"] = {**conf.get("TEST", {}), "MIRROR": "default"}
    with contextlib.suppress(AttributeError, KeyError):
        del connections[REPLICA]  # a wrapper another test left for an earlier `replica` alias
    connections.settings[REPLICA] = conf
    yield s
    connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]
    s.remove()


@pytest.fixture
def replica(standby):
    """(standby, database name): replay caught up at the start, resumed at the end."""
    dbname = connections.settings[REPLICA]["NAME"]
    wait_replayed(standby, dbname)
    yield standby, dbname
    replay_resume(standby, dbname)
    connections[REPLICA].close()


def _lag(standby_and_db) -> None:
    replay_pause(*standby_and_db)


def _catch_up(standby_and_db) -> None:
    replay_resume(*standby_and_db)
    wait_replayed(*standby_and_db)


def test_the_replica_is_a_read_only_streaming_standby(replica):
    with connections[REPLICA].cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
        assert cur.fetchone() == (True, "on")


def test_router_sends_only_lag_tolerant_reads_outside_transactions_to_the_replica(replica, seller):
    _lag(replica)
    ListingFactory(owner=seller, title="written while the replica lags")  # committed on the primary

    assert read_alias() == "default"
    assert Listing.objects.count() == 1  # an ordinary read: the primary
    with lag_tolerant_reads():
        assert read_alias() == REPLICA
        assert Listing.objects.count() == 0  # the replica has not replayed it yet
        with transaction.atomic():
            assert read_alias() == "default"  # inside a write's transaction: the primary
            assert Listing.objects.count() == 1
            assert Listing.objects.select_for_update().count() == 1
    _catch_up(replica)
    with lag_tolerant_reads():
        assert Listing.objects.count() == 1


def test_search_reads_the_replica_and_approval_writes_the_primary(replica, moderator, seller, api, api_for):
    listing = ListingFactory(owner=seller, title="Vintage walnut sideboard")
    _lag(replica)

    approved = api_for(moderator).post(f"/api/listings/{listing.pk}/approve", {"expiryDays": 30}, format="json")
    assert approved.status_code == 200, approved.content  # the approval read and wrote the primary
    assert Listing.objects.get(pk=listing.pk).status == "approved"
    assert api.get("/api/listings/search?q=walnut").json()["count"] == 0  # the replica lags

    _catch_up(replica)
    found = api.get("/api/listings/search?q=walnut").json()
    assert [r["id"] for r in found["results"]] == [listing.pk]


def test_wallet_after_a_refund_reads_the_primary(replica, make_user, api_for):
    admin = make_user(Role.ADMIN, username="refunder", is_staff=True)
    user = make_user(Role.USER, username="refunded")
    _lag(replica)

    refund = api_for(admin).post("/api/wallet/refund", {"userId": user.pk, "amount": "25.00", "reason": "late",
                                                       "refId": "order-1"},
                                 format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert refund.status_code == 201, refund.content
    wallet = api_for(user).get("/api/wallet").json()  # read-your-own-writes: the primary
    assert wallet["balance"] == "25.00"
    with lag_tolerant_reads(), connections[REPLICA].cursor() as cur:  # while the replica has not seen it
        cur.execute("SELECT count(*) FROM wallet_wallet WHERE user_id = %s AND balance > 0", [user.pk])
        assert cur.fetchone()[0] == 0


def test_public_banner_feed_and_admin_lists_read_the_replica(replica, admin_user, api, api_for, client, seller):
    from django.core.cache import cache

    _lag(replica)
    created = api_for(admin_user).post("/api/settings/banners", {
        "placement": "home", "title": "Diwali sale", "imageUrl": "https://cdn.example.com/d.png",
        "startDate": (timezone.now() - timedelta(minutes=1)).isoformat()}, format="json")
    assert created.status_code == 201, created.content
    ListingFactory(owner=seller)

    assert api.get("/api/banners?placement=home").json()["results"] == []  # feed from the lagging replica
    client.force_login(admin_user)
    page = client.get("/admin/listings/listing/")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 0  # the list page and its count: the replica
    assert stats_snapshot()["pendingListings"] == 0  # dashboard counts: the replica
    assert Listing.objects.count() == 1  # the primary has it

    _catch_up(replica)
    cache.delete_many(feed_cache_keys())  # the empty feed read while lagging was cached for BANNER_CACHE_SECONDS
    assert [b["title"] for b in api.get("/api/banners?placement=home").json()["results"]] == ["Diwali sale"]
    assert client.get("/admin/listings/listing/").context["cl"].result_count == 1
    assert stats_snapshot()["pendingListings"] == 1
