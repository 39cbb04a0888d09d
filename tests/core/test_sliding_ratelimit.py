"""Sign-in throttling counts in a sliding window: a burst across a fixed window's edge (10/m
used to pass 12 wrong passwords in about 3 s) is refused (core.api.ratelimit.sliding_usage)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import time_machine
from rest_framework.test import APIClient

from core.api.ratelimit import sliding_usage

from .helpers import clear_rate_counters

pytestmark = pytest.mark.django_db
EDGE = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc).timestamp()  # a minute boundary


def _wrong_password(username="seller"):
    return APIClient().post("/api/auth/token", {"username": username, "password": "wrong"}, format="json")


@pytest.mark.slow  # 240 sign-ins
def test_no_burst_of_wrong_passwords_passes_more_than_the_limit_wherever_it_starts(ratelimits, seller):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "token_username": "10/m", "token_ip": "1000/m"}
    passed = []
    for start in range(0, 60, 3):  # 20 bursts of 12 attempts in 3 s, one of them across any window edge
        clear_rate_counters()
        with time_machine.travel(EDGE + start, tick=False) as clock:
            codes = []
            for _ in range(12):
                codes.append(_wrong_password().status_code)
                clock.shift(0.25)
        assert set(codes) <= {401, 429}
        passed.append(codes.count(401))
    assert max(passed) == 10, passed


def test_a_limited_username_may_try_again_after_retry_after(ratelimits, seller):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "token_username": "10/m", "token_ip": "1000/m"}
    with time_machine.travel(EDGE - 1.5, tick=False) as clock:
        codes = [_wrong_password().status_code for _ in range(11)]
        assert codes.count(401) == 10 and codes[10] == 429
        limited = _wrong_password()
        assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
        assert _wrong_password("buyer").status_code == 401  # another username has its own count
        clock.shift(int(limited["Retry-After"]))
        assert _wrong_password().status_code == 401


def test_sliding_estimate_weights_the_previous_window(ratelimits):
    key = "unit-test-counter"
    for i in range(10):  # 10 hits late in window 0
        assert sliding_usage(key, limit=10, period=60, now=EDGE + 50 + i * 0.1) is None
    # 15 s into the next window: 10 * 45/60 = 7.5 of the previous still count, so 2 fit, not 10.
    assert sliding_usage(key, limit=10, period=60, now=EDGE + 75) is None
    assert sliding_usage(key, limit=10, period=60, now=EDGE + 75) is None
    wait = sliding_usage(key, limit=10, period=60, now=EDGE + 75)
    assert wait is not None and 1 <= wait <= 60
    assert sliding_usage(key, limit=10, period=60, now=EDGE + 75 + wait) is None
