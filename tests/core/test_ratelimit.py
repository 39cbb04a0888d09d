"""Rate limits and client identity (docs/access-and-hardening.md).

Rates in these tests use a one-day window ("N/d"): django-ratelimit counts in fixed windows, and
a day-long window makes crossing a window edge during a test (which would reset the count)
practically impossible.
"""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.api import ratelimit as ratelimit_module
from core.context import client_ip
from audit.models import AuditLog

from ..accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db


# --- client_ip -------------------------------------------------------------------------------

@pytest.mark.parametrize("meta, trusted, expected", [
    ({"REMOTE_ADDR": "198.51.100.9"}, [], "198.51.100.9"),
    ({"REMOTE_ADDR": "198.51.100.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, [], "198.51.100.9"),
    # The proxy is not trusted: its XFF is ignored.
    ({"REMOTE_ADDR": "198.51.100.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, ["10.0.0.0/8"], "198.51.100.9"),
    # Trusted proxy: the rightmost hop that is not a trusted proxy, forged left entries ignored.
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.7"}, ["10.0.0.0/8"], "203.0.113.7"),
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.7, 10.0.0.5"}, ["10.0.0.0/8"],
     "203.0.113.7"),
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "2001:db8::1"}, ["10.0.0.0/8"], "2001:db8::1"),
    # Garbage in the rightmost untrusted position: the proxy's own address, never the garbage.
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, not-an-ip"}, ["10.0.0.0/8"], "10.0.0.2"),
    ({"REMOTE_ADDR": "10.0.0.2"}, ["10.0.0.0/8"], "10.0.0.2"),
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "10.0.0.7"}, ["10.0.0.0/8"], "10.0.0.2"),
    ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6"}, ["10.0.0.2", "bad-entry"], "6.6.6.6"),
    ({}, [], None),
])
def test_client_ip(meta, trusted, expected):
    assert client_ip(meta, trusted) == expected


# --- limits ----------------------------------------------------------------------------------

def _obtain(username: str, xff: str | None = None, password: str = "wrong-password"):
    extra = {"HTTP_X_FORWARDED_FOR": xff} if xff else {}
    return APIClient().post("/api/auth/token", {"username": username, "password": password}, format="json", **extra)


class _OneInTheMorning:
    """The rate limiter's clock pinned to 01:00 UTC of a day: early in a daily window."""

    @staticmethod
    def time() -> float:
        return 20_000 * 86400 + 3600.0


def test_token_obtain_per_ip_limit_with_rotating_xff_untrusted(ratelimits, seller, monkeypatch):
    # The clock is pinned: Retry-After depends on the time of day for a daily limit (this test
    # asserted <= 86400 and failed every morning UTC; docs/testing.md, "Flakes").
    monkeypatch.setattr(ratelimit_module, "time", _OneInTheMorning)
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "token_ip": "3/d", "token_username": "100/d"}
    codes = [_obtain(f"nobody{i}", xff=f"198.18.0.{i}").status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    limited = _obtain("seller", password=PASSWORD)  # even the right password: the IP is over
    assert limited.status_code == 429
    assert limited.json() == {"error": {"code": "rate_limited", "message": limited.json()["error"]["message"],
                                        "fields": {}}}
    # six hits (three refused ones count too) against 3/d, 3,600 s into the window: the rest of this
    # window (82,800 s), then until the six decay to room for one more, 6 x (1 - t) + 1 <= 3 at
    # t = 2/3 of the next day (57,600 s): core.api.ratelimit.sliding_usage
    assert int(limited["Retry-After"]) == 82_800 + 57_600
    assert limited["X-Request-ID"]


def test_token_obtain_per_ip_limit_behind_trusted_proxy_ignores_forged_hops(ratelimits):
    ratelimits.TRUSTED_PROXIES = ["127.0.0.1"]
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "token_ip": "3/d", "token_username": "100/d"}
    # The proxy appends the real client (203.0.113.7); the client rotates forged entries to its left.
    codes = [_obtain(f"nobody{i}", xff=f"10.9.9.{i}, 203.0.113.7").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    # Another real client behind the same proxy has its own budget.
    assert _obtain("nobody", xff="203.0.113.8").status_code == 401


def test_token_obtain_per_username_limit_across_ips(ratelimits, seller):
    ratelimits.TRUSTED_PROXIES = ["127.0.0.1"]
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "token_ip": "100/d", "token_username": "3/d"}
    codes = [_obtain("Seller" if i % 2 else "seller", xff=f"203.0.113.{i}").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    assert _obtain("buyer", xff="203.0.113.50").status_code == 401  # another username is not limited


def test_token_refresh_limit(ratelimits, seller):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "token_refresh": "2/d"}
    codes = [APIClient().post("/api/auth/token/refresh", {"refresh": "x"}, format="json").status_code for _ in range(3)]
    assert codes == [401, 401, 429]


def test_block_limit_per_admin_and_nothing_written_when_limited(ratelimits, api_for, admin_user, make_user):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "user_block": "2/d"}
    targets = [make_user(username=f"t{i}") for i in range(3)]
    client = api_for(admin_user)
    codes = [client.post(f"/api/admin/users/{t.pk}/block", {"reason": "x"}, format="json").status_code for t in targets]
    assert codes == [200, 200, 429]
    assert AuditLog.objects.filter(action="user.block").count() == 2
    targets[2].refresh_from_db()
    assert targets[2].blocked_at is None


def test_limit_counts_after_permission_check(ratelimits, api_for, seller, buyer):
    ratelimits.RATELIMIT_RATES = {**ratelimits.RATELIMIT_RATES, "user_block": "1/d"}
    client = api_for(seller)
    codes = [client.post(f"/api/admin/users/{buyer.pk}/block", {"reason": "x"}, format="json").status_code
             for _ in range(3)]
    assert codes == [403, 403, 403]


def test_audit_ip_is_not_forged_by_xff(api_for, admin_user, seller, settings):
    settings.TRUSTED_PROXIES = []
    api_for(admin_user).post(f"/api/admin/users/{seller.pk}/block", {"reason": "x"}, format="json",
                             HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="198.51.100.20")
    assert AuditLog.objects.get().ip_address == "198.51.100.20"


def test_audit_ip_behind_trusted_proxy_is_the_rightmost_untrusted_hop(api_for, admin_user, seller, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    api_for(admin_user).post(f"/api/admin/users/{seller.pk}/block",
                             {"reason": "x"}, format="json",
                             HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9", REMOTE_ADDR="10.1.2.3")
    assert AuditLog.objects.get().ip_address == "203.0.113.9"


def test_decorator_on_a_plain_django_view(ratelimits, rf):
    from django.http import HttpResponse

    from core.api.ratelimit import ratelimit

    @ratelimit(rate="1/d", key="ip", group="test.plain")
    def view(request):
        return HttpResponse("ok")

    first, second = view(rf.get("/x", REMOTE_ADDR="192.0.2.1")), view(rf.get("/x", REMOTE_ADDR="192.0.2.1"))
    assert (first.status_code, second.status_code) == (200, 429)
    assert view(rf.get("/x", REMOTE_ADDR="192.0.2.2")).status_code == 200
