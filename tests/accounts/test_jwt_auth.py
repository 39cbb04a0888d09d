"""JWT: tokens from /api/auth/token, tokens minted elsewhere with PyJWT, and refusals."""
from __future__ import annotations

import time
import uuid

import jwt
import pytest
from django.conf import settings

from accounts.models import Role


def _mint(sub, role="user", *, secret=None, alg="HS256", exp_in=300, **extra):
    now = int(time.time())
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + exp_in, "jti": uuid.uuid4().hex, **extra}
    return jwt.encode(claims, secret or settings.JWT_SECRET, algorithm=alg)


def _me(api, token):
    return api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
def test_token_obtain_and_me(api, seller):
    response = api.post("/api/auth/token", {"username": "seller", "password": "demo-pass-123"}, format="json")
    assert response.status_code == 200
    access = response.json()["access"]
    claims = jwt.decode(access, settings.JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(seller.pk)
    assert claims["role"] == "user"
    assert {"exp", "iat", "jti"} <= set(claims)
    me = _me(api, access)
    assert me.status_code == 200
    assert me.json() == {"id": seller.pk, "username": "seller", "role": "user", "blockedAt": None,
                         "blockUntil": None, "blockReason": ""}


@pytest.mark.django_db
def test_wrong_password_is_401_in_error_shape(api, seller):
    response = api.post("/api/auth/token", {"username": "seller", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.django_db
@pytest.mark.parametrize("sub_as", [str, int])
def test_token_minted_with_pyjwt_is_accepted(api, seller, sub_as):
    response = _me(api, _mint(sub_as(seller.pk)))
    assert response.status_code == 200
    assert response.json()["id"] == seller.pk


@pytest.mark.django_db
def test_role_comes_from_the_database_not_the_token(api, seller, listing):
    token = _mint(str(seller.pk), role="admin")
    response = api.post(f"/api/listings/{listing.pk}/approve", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda uid: _mint(uid, secret="another-secret-entirely-0123456789"), id="other-secret"),
        pytest.param(lambda uid: _mint(uid, exp_in=-60), id="expired"),
        pytest.param(lambda uid: jwt.encode({"sub": uid, "role": "admin", "exp": int(time.time()) + 300}, None,
                                            algorithm="none"), id="alg-none"),
        pytest.param(lambda uid: _mint(uid, alg="HS512"), id="hs512"),
        pytest.param(lambda uid: "not.a.token", id="garbage"),
        pytest.param(lambda uid: _mint("999999"), id="unknown-user"),
        pytest.param(lambda uid: _mint(uid, token_type="refresh"), id="refresh-as-access"),
    ],
)
def test_bad_tokens_are_401(api, seller, make_token):
    response = _me(api, make_token(str(seller.pk)))
    assert response.status_code == 401
    assert response.json()["error"]["code"]


@pytest.mark.django_db
def test_inactive_user_token_is_401(api, make_user):
    user = make_user(Role.USER, is_active=False)
    assert _me(api, _mint(str(user.pk))).status_code == 401


@pytest.mark.django_db
def test_refresh_gives_a_new_access_token_with_the_current_role(api, seller):
    pair = api.post("/api/auth/token", {"username": "seller", "password": "demo-pass-123"}, format="json").json()
    seller.role = Role.MODERATOR
    seller.save(update_fields=["role"])
    response = api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200
    assert jwt.decode(response.json()["access"], settings.JWT_SECRET, algorithms=["HS256"])["role"] == "moderator"
    assert api.post("/api/auth/token/refresh", {"refresh": pair["access"]}, format="json").status_code == 401


@pytest.mark.django_db
def test_refresh_tokens_rotate_and_a_used_one_is_refused(api, seller):
    pair = api.post("/api/auth/token", {"username": "seller", "password": "demo-pass-123"}, format="json").json()
    first = api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert first.status_code == 200 and set(first.json()) == {"access", "refresh"}
    reused = api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert reused.status_code == 401
    assert api.post("/api/auth/token/refresh", {"refresh": first.json()["refresh"]}, format="json").status_code == 200
