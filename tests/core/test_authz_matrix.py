"""Authorization matrix over every API endpoint (docs/access-and-hardening.md): anonymous, user,
moderator, admin, blocked user.

To extend: append an `Endpoint` to ENDPOINTS. `path` may use the placeholders of `_world()`
({own_listing}, {other_listing}, {target}, {blocked_target}, {banner}); `body` is a dict or a
callable `(world, actor) -> dict`; `allowed` lists the roles that get through: they must get
exactly status `ok` and exactly the `effect` (row count changes of the tables below, plus
"blocked"; `changes` names the row lists that must change: "roles", "listings"); `headers` adds request headers
(e.g. {"HTTP_IDEMPOTENCY_KEY": "k1"}). Every other role must get exactly the status in `denied`
(default: anonymous 401, everyone else 403; a blocked user always 403 `user_blocked`), and a
refused request must change nothing (row counts of the tables below).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Role
from accounts.tokens import token_pair_for
from banners import services as banner_services
from listings.models import ListingStatus

from ..accounts.factories import PASSWORD, UserFactory
from ..listings.factories import ListingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # 110 cases x 8 users: PBKDF2 would make this file take minutes; hashing is not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

ANON, USER, MOD, ADMIN, BLOCKED = "anonymous", "user", "moderator", "admin", "blocked"
ROLES = [ANON, USER, MOD, ADMIN, BLOCKED]
EVERYONE = {ANON, USER, MOD, ADMIN}
SIGNED_IN = {USER, MOD, ADMIN}
STAFF = {MOD, ADMIN}
ADMINS = {ADMIN}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    allowed: set[str]
    body: dict | Callable | None = None
    denied: dict[str, int] = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    ok: int = 200
    effect: dict[str, int] = field(default_factory=dict)
    changes: frozenset[str] = frozenset()

    def expected_denied(self, role: str) -> int:
        if role in self.denied:
            return self.denied[role]
        return 401 if role == ANON else 403

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _credentials(world, actor):
    user = actor or world["owner"]
    return {"username": user.username, "password": PASSWORD}


def _refresh(world, actor):
    return {"refresh": token_pair_for(actor or world["owner"])["refresh"]}


def _banner_body(world, actor):
    return {"placement": "home", "title": "t", "imageUrl": "https://cdn.example.com/a.png",
            "startDate": timezone.now().isoformat(), "priority": 1}


ENDPOINTS: list[Endpoint] = [
    Endpoint("post", "/api/auth/token", EVERYONE, _credentials),
    Endpoint("post", "/api/auth/token/refresh", EVERYONE, _refresh,
             effect={"token_blacklist.BlacklistedToken": 1}),  # rotation blacklists the old refresh token
    Endpoint("get", "/api/me", SIGNED_IN),
    Endpoint("get", "/api/listings", SIGNED_IN),
    Endpoint("post", "/api/listings", SIGNED_IN,
             {"title": "Bike", "description": "ok", "category": "vehicles", "price": "100.00"}, ok=201,
             changes=frozenset({"listings"}),
             effect={"listings.Listing": 1, "outbox.EventOutbox": 1}),  # + the listing.pending alert
    Endpoint("get", "/api/listings/{own_listing}", SIGNED_IN),
    Endpoint("patch", "/api/listings/{own_listing}", SIGNED_IN, {"title": "New title"}, changes=frozenset({"listings"})),
    Endpoint("delete", "/api/listings/{own_listing}", SIGNED_IN, ok=204, effect={"listings.Listing": -1},
             changes=frozenset({"listings"})),
    # moderation: one audit row, listings.update to owner and admin + notifications.new, one notification
    Endpoint("post", "/api/listings/{other_listing}/approve", STAFF, {}, changes=frozenset({"listings"}),
             effect={"audit.AuditLog": 1, "notifications.Notification": 1, "outbox.EventOutbox": 3}),
    Endpoint("post", "/api/listings/{other_listing}/reject", STAFF, {"reason": "blurry photos"},
             changes=frozenset({"listings"}),
             effect={"audit.AuditLog": 1, "notifications.Notification": 1, "outbox.EventOutbox": 3}),
    Endpoint("get", "/api/notifications", SIGNED_IN),
    Endpoint("get", "/api/admin/audit-logs", ADMINS),
    Endpoint("post", "/api/admin/users/{target}/block", ADMINS, {"reason": "spam"},
             effect={"audit.AuditLog": 1, "blocked": 1, "outbox.EventOutbox": 1}),
    Endpoint("post", "/api/admin/users/{blocked_target}/unblock", ADMINS, {},
             effect={"audit.AuditLog": 1, "blocked": -1, "outbox.EventOutbox": 1}),
    Endpoint("post", "/api/admin/users/{target}/role", ADMINS, {"role": "moderator"}, effect={"audit.AuditLog": 1},
             changes=frozenset({"roles"})),
    Endpoint("get", "/api/settings/banners", ADMINS),
    Endpoint("post", "/api/settings/banners", ADMINS, _banner_body, ok=201,
             effect={"audit.AuditLog": 1, "banners.Banner": 1, "outbox.EventOutbox": 1}),
    Endpoint("get", "/api/settings/banners/{banner}", ADMINS),
    Endpoint("patch", "/api/settings/banners/{banner}", ADMINS, {"title": "Renamed"},
             effect={"audit.AuditLog": 1, "outbox.EventOutbox": 1}),
    Endpoint("delete", "/api/settings/banners/{banner}", ADMINS, ok=204,
             effect={"audit.AuditLog": 1, "banners.Banner": -1, "outbox.EventOutbox": 1}),
    # Public: no authentication at all, so even a blocked user's token is not looked at.
    Endpoint("get", "/api/banners?placement=home", EVERYONE | {BLOCKED}),
    Endpoint("get", "/api/schema", EVERYONE),
    Endpoint("get", "/api/docs", EVERYONE),
    # Probes are plain Django views outside the API: no authentication, nothing to block.
    Endpoint("get", "/healthz", EVERYONE | {BLOCKED}),
    Endpoint("get", "/readyz", EVERYONE | {BLOCKED}),
]

COUNTED = ["accounts.User", "listings.Listing", "audit.AuditLog", "outbox.EventOutbox", "banners.Banner",
           "notifications.Notification", "token_blacklist.BlacklistedToken"]


def _snapshot() -> dict:
    snap = {label: apps.get_model(label).objects.count() for label in COUNTED}
    user_model = apps.get_model("accounts.User")
    snap["blocked"] = user_model.objects.filter(blocked_at__isnull=False).count()
    snap["roles"] = sorted(user_model.objects.values_list("pk", "role"))
    listing = apps.get_model("listings.Listing")
    snap["listings"] = sorted(listing.objects.values_list("pk", "status", "title"))
    return snap


def _world() -> dict:
    admin = UserFactory(role=Role.ADMIN, username="matrix-admin", is_staff=True, is_superuser=True)
    owner = UserFactory(username="owner")
    actors = {
        ANON: None,
        USER: UserFactory(username="matrix-user"),
        MOD: UserFactory(role=Role.MODERATOR, username="matrix-mod", is_staff=True),
        ADMIN: UserFactory(role=Role.ADMIN, username="matrix-admin2", is_staff=True),
        BLOCKED: UserFactory(username="matrix-blocked"),
    }
    blocked_target = UserFactory(username="blocked-target")
    account_services.user_block(user_id=actors[BLOCKED].pk, actor=admin, reason="matrix")
    account_services.user_block(user_id=blocked_target.pk, actor=admin, reason="matrix")
    banner = banner_services.banner_create(actor=admin, placement="home", title="b", image_url="https://x.example/a.png",
                                           start_date=timezone.now())
    return {"owner": owner, "actors": actors, "other_listing": ListingFactory(owner=owner, status=ListingStatus.PENDING),
            "target": UserFactory(username="target"), "blocked_target": blocked_target, "banner": banner}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_authorization_matrix(endpoint: Endpoint, role: str):
    world = _world()
    actor = world["actors"][role]
    own_listing = ListingFactory(owner=actor or world["owner"])
    path = endpoint.path.format(own_listing=own_listing.pk, other_listing=world["other_listing"].pk,
                                target=world["target"].pk, blocked_target=world["blocked_target"].pk,
                                banner=world["banner"].pk)
    body = endpoint.body(world, actor) if callable(endpoint.body) else endpoint.body
    client = APIClient()
    if actor is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(actor)['access']}")
    before = _snapshot()

    response = getattr(client, endpoint.method)(path, body, format="json", **endpoint.headers) if body is not None \
        else getattr(client, endpoint.method)(path, **endpoint.headers)

    if role in endpoint.allowed:
        assert response.status_code == endpoint.ok, (role, str(endpoint), response.status_code, response.content[:500])
        after = _snapshot()
        effect = {k: after[k] - before[k] for k in [*COUNTED, "blocked"] if after[k] != before[k]}
        assert effect == endpoint.effect, (role, str(endpoint))
        assert {k for k in ("roles", "listings") if after[k] != before[k]} == endpoint.changes, (role, str(endpoint))
        return
    assert response.status_code == endpoint.expected_denied(role), (role, str(endpoint), response.content[:500])
    if response["Content-Type"].startswith("application/json"):
        error = response.json()["error"]
        if role == BLOCKED:
            assert error["code"] == "user_blocked"
    assert _snapshot() == before
