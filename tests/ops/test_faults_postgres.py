"""PostgreSQL restarted under a stream of approvals on real processes (the Procfile's web with its
psycopg pool, a Celery worker, the relay loop) pointed at a private cluster this test makes
(initdb, tests/core/standby.py) and at a private redis-server: `pg_ctl restart -m fast`, then
`-m immediate` (a crash: every server process quits at once, the next start recovers from the
WAL), then the server stopped for a while.

What must hold (docs/operations.md, "Faults on the request path"): every request is answered 200 or
503 with Retry-After in the error shape, never 500; an approval answered 503 wrote nothing (no 5xx
after its transaction committed) and succeeds when the client retries it; every approval answered
200 is approved in the database, and once PostgreSQL is back every event is sent, every follow-up
done, every listing in search and every notification sent (at least once: a follow-up whose done
mark the crash forgot runs again and finds its work done).

Outcomes only: latencies are recorded in the log, never asserted."""
from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from accounts.models import Role
from accounts.tokens import access_token_for
from listings.models import Listing, ListingStatus

from ..accounts.factories import UserFactory
from ..core.standby import Cluster, private_cluster
from ..listings.factories import ListingFactory
from ..servers import eventually, held_port, http_json, manage, private_redis, services_env
from .faults import PORTS, approvals_at_rate, dgt_stack, everything_delivered, percentile

log = logging.getLogger(__name__)

ALIAS = "faults_pg"  # the test process's view of the private cluster's dgt database
DBNAME = "dgt_faults"
# Marks the crash forgot (follow-ups done with synchronous_commit off) are dispatched again soon.
STACK_ENV = {"FOLLOWUP_REDISPATCH_SECONDS": "20", "OUTBOX_FIRST_RETRY_SECONDS": "2"}


@contextmanager
def cluster_database(cluster: Cluster) -> Iterator[str]:
    """dgt's schema in a new database on `cluster` (manage.py migrate), registered as the test
    process's database ALIAS for the block. Yields its DATABASE_URL."""
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DBNAME}"')
    url = cluster.url(DBNAME)
    manage(services_env(DATABASE_URL=url), "migrate", "--noinput", timeout=900)
    conf = copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS])
    conf.update(NAME=DBNAME, USER="postgres", PASSWORD="", HOST="127.0.0.1", PORT=str(cluster.port),
                CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
    conf["OPTIONS"] = {k: v for k, v in conf.get("OPTIONS", {}).items() if k != "pool"}
    connections.settings[ALIAS] = conf
    try:
        yield url
    finally:
        connections[ALIAS].close()
        del connections[ALIAS]
        del connections.settings[ALIAS]


@contextmanager
def on_cluster() -> Iterator[str]:
    """Queries of the test on ALIAS; its connection is closed after the block, so none is left
    open across a restart."""
    try:
        yield ALIAS
    finally:
        connections[ALIAS].close()


def seed(count: int) -> tuple:
    """A seller with `count` pending listings and a moderator, on the private cluster: (moderator,
    the listings' ids)."""
    with on_cluster() as using:
        seller = UserFactory.build(username="seller", password=None)
        moderator = UserFactory.build(username="moderator", role=Role.MODERATOR, is_staff=True, password=None)
        for user in (seller, moderator):
            user.save(using=using)
        listings = Listing.objects.using(using).bulk_create([ListingFactory.build(owner=seller) for _ in range(count)])
    return moderator, [listing.pk for listing in listings]


def statuses(ids: list[int]) -> dict[int, str]:
    with on_cluster() as using:
        return dict(Listing.objects.using(using).filter(pk__in=ids).values_list("pk", "status"))


class RestartAt:
    """An `on_tick` for approvals_at_rate: `pg_ctl restart -m mode` starts before the `at`-th
    request, in its own thread, so the stream goes on meanwhile. `result()` waits for it."""

    def __init__(self, cluster: Cluster, mode: str, *, at: int) -> None:
        self.cluster, self.mode, self.at = cluster, mode, at
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.future = None

    def __call__(self, i: int) -> None:
        if i == self.at:
            self.future = self.pool.submit(self.cluster.restart, self.mode)

    def result(self) -> None:
        self.future.result(timeout=300)
        self.pool.shutdown()


def run_restarts(tmp_path) -> dict:
    """The scenario, phase by phase, each answered in full before the next. Returns what the
    assertions need: every approval's answer, the probe's answer, the listings' statuses once
    PostgreSQL is back, the retries' answers and the delivery state."""
    # PostgreSQL binds its port itself (SO_REUSEADDR), next to the port this test holds and shares
    # for the whole test, so its restarts can bind it again and no other suite's server can
    # (tests/servers.HeldPort). The top of the range (the Redis test's ports start at the bottom);
    # 19839 stays dead (test_unavailable).
    with held_port(PORTS.stop - 10, PORTS.stop - 1) as pg_port, pg_port.shared(), \
            private_cluster(pg_port.number, logs=tmp_path) as cluster, cluster_database(cluster) as database_url, \
            private_redis(tmp_path, PORTS.start, PORTS.stop - 10) as redis, \
            dgt_stack(redis, tmp_path, database_url=database_url, **STACK_ENV) as base:
        moderator, ids = seed(60)
        token = access_token_for(moderator)
        answers = {"before": approvals_at_rate(base, token, ids[:15], rate=10)}
        for mode, phase in (("fast", ids[15:30]), ("immediate", ids[30:45])):
            restart = RestartAt(cluster, mode, at=3)
            answers[mode] = approvals_at_rate(base, token, phase, rate=10, on_tick=restart)
            restart.result()
        # The server down for a while: an approval is refused 503 (a stale pooled connection fails
        # at once; otherwise the pool gives up after DB_POOL_TIMEOUT_SECONDS) and writes nothing.
        cluster.stop("fast")
        probe = approvals_at_rate(base, token, ids[45:46], rate=10)[0]
        cluster.start()
        answers["after"] = approvals_at_rate(base, token, ids[46:], rate=10)
        after_restarts = statuses(ids)
        every = [a for phase in answers.values() for a in phase]
        # Clients retry what was refused, after Retry-After, as the API asks them to.
        refused = [a["listingId"] for a in [*every, probe] if a["status"] == 503]
        retries = {listing_id: eventually(lambda listing_id=listing_id: _approved_on_retry(base, token, listing_id),
                                          within=120, every=5) for listing_id in refused}
        started = time.monotonic()
        with on_cluster() as using:
            delivered = eventually(lambda: everything_delivered(ids, using=using), within=300)
        seconds = [a["seconds"] for a in every]
        log.info("approvals: p50 %.3f s p99 %.3f s max %.3f s; 503 per phase %s; everything delivered %.1f s after "
                 "the retries", percentile(seconds, 50), percentile(seconds, 99), max(seconds),
                 {name: sum(a["status"] == 503 for a in phase) for name, phase in answers.items()},
                 time.monotonic() - started)
        (tmp_path / "approvals.json").write_text(json.dumps({**answers, "probe": probe}, indent=1))
        with on_cluster() as using:
            approved = Listing.objects.using(using).filter(pk__in=ids, status=ListingStatus.APPROVED).count()
    return {"ids": ids, "answers": every, "probe": probe, "afterRestarts": after_restarts, "retries": retries,
            "delivered": delivered, "approved": approved}


def _approved_on_retry(base: str, token: str, listing_id: int) -> int | None:
    status, body, _ = http_json(f"{base}/api/listings/{listing_id}/approve", {"reason": "ok"}, token=token)
    log.info("retry of %s: %s %s", listing_id, status, body.get("status") or body.get("error"))
    return status if status == 200 else None


def assert_unavailable(answer: dict) -> None:
    """A 503 in the error shape of docs/architecture.md, with Retry-After."""
    assert answer["status"] == 503, answer
    assert answer["body"]["error"]["code"] == "service_unavailable", answer
    assert set(answer["body"]["error"]) == {"code", "message", "fields"}, answer
    assert answer["headers"].get("Retry-After") == "5", answer


@pytest.mark.services
@pytest.mark.postgres
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_postgres_restarted_under_load_answers_no_error_after_commit_and_loses_nothing(tmp_path, django_db_blocker):
    with django_db_blocker.unblock():  # the test's queries go to its own cluster only (ALIAS)
        run = run_restarts(tmp_path)

    answers = run["answers"]
    assert {a["status"] for a in answers} <= {200, 503}, [a for a in answers if a["status"] not in (200, 503)][:3]
    for answer in [a for a in answers if a["status"] == 503]:
        assert_unavailable(answer)
    assert_unavailable(run["probe"])
    # A 200 is approved; a 503 wrote nothing (its listing was still pending once PostgreSQL was back).
    expected = {a["listingId"]: ListingStatus.APPROVED if a["status"] == 200 else ListingStatus.PENDING
                for a in [*answers, run["probe"]]}
    assert run["afterRestarts"] == expected
    assert run["retries"] == dict.fromkeys(run["retries"], 200)
    assert run["approved"] == len(run["ids"])
    assert run["delivered"] is not None
    assert run["delivered"]["notifications"] >= len(run["ids"])  # one per channel the seller can receive
