"""Rate limits are shared by every server process (services mode: Redis cache) (docs/access-and-hardening.md).

Starts two gunicorn servers (2 workers each) on this worktree's ports against the test database
and Redis, and sends alternating login attempts to both: together they allow exactly the limit.
"""
from __future__ import annotations

from contextlib import ExitStack

import pytest

from ..accounts.factories import PASSWORD
from ..servers import gunicorn, held_port, http_json, services_env
from .helpers import clear_rate_counters

pytestmark = pytest.mark.slow

PORTS = range(19440, 19499)  # the rate-limit tests' own ports, 19400-19499


@pytest.fixture
def two_servers(db, tmp_path):
    clear_rate_counters()
    env = services_env(DGT_TESTING="1", DEBUG="1", RATELIMIT_ENABLE="1", RATELIMIT_TOKEN_IP="4/d",
                       RATELIMIT_TOKEN_USERNAME="1000/d", TRUSTED_PROXIES="127.0.0.1", DB_CONN_MAX_AGE="0")
    try:
        with ExitStack() as stack:
            ports = [stack.enter_context(held_port(PORTS.start, PORTS.stop)) for _ in range(2)]
            for n, port in enumerate(ports):
                stack.enter_context(gunicorn(port, env, tmp_path / f"web{n}.log", timeout=60))
            yield [f"http://127.0.0.1:{port.number}" for port in ports]
    finally:
        clear_rate_counters()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_server_processes_share_the_login_limit(two_servers, make_user):
    make_user(username="victim")
    a, b = two_servers
    results = []
    for i in range(10):
        base = a if i % 2 == 0 else b
        # The trusted proxy (127.0.0.1) appended the real client 203.0.113.77; the client rotates
        # forged entries to its left, and every request comes from a new username.
        status, body, headers = http_json(f"{base}/api/auth/token", {"username": f"victim{i}", "password": "nope"},
                                          headers={"X-Forwarded-For": f"10.66.0.{i}, 203.0.113.77"})
        results.append((base, status, headers.get("Retry-After"), body))

    statuses = [status for _, status, _, _ in results]
    assert statuses == [401] * 4 + [429] * 6
    assert {base for base, status, _, _ in results if status == 429} == {a, b}
    # The sliding estimate waits out the rest of this day and then part of the next: up to two
    # periods, depending on the time of day (its exact value, with the clock pinned, is asserted by
    # tests/core/test_ratelimit.py; these are server processes, whose clock is the real one).
    for _, status, retry_after, body in results[4:]:
        assert body["error"]["code"] == "rate_limited" and 1 <= int(retry_after) <= 2 * 86400

    # Another client behind the same proxy still gets in (its own budget), on either server.
    assert http_json(f"{b}/api/auth/token", {"username": "victim", "password": PASSWORD},
                     headers={"X-Forwarded-For": "203.0.113.78"})[0] == 200
