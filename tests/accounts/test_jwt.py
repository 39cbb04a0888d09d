"""JWT (docs/access-and-hardening.md): tokens from /api/auth/token and tokens minted elsewhere with
PyJWT; only HS256 with JWT_SECRET is accepted; refresh tokens rotate; the role comes from the
database; the leeway is the same on the API, refresh and the websocket; every refusal is a 401."""
from __future__ import annotations

import time
import uuid

import jwt
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from accounts.models import Role
from accounts.tokens import token_pair_for

from ..realtime.communicator import ws_open
from .factories import PASSWORD

pytestmark = pytest.mark.django_db


def _claims(user_id, role: str = "user", **extra) -> dict:
    now = int(time.time())
    return {"sub": str(user_id), "role": role, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, **extra}


def _mint(user_id, role: str = "user", *, secret: str | None = None, alg: str = "HS256", **extra) -> str:
    """A token minted with PyJWT as another service would (HS256 with JWT_SECRET unless told)."""
    return jwt.encode(_claims(user_id, role, **extra), secret or settings.JWT_SECRET, algorithm=alg)


def _me(api, token: str):
    return api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}")


def _refresh(api, token: str):
    return api.post("/api/auth/token/refresh", {"refresh": token}, format="json")


def _sign_in(api, username: str = "seller") -> dict:
    response = api.post("/api/auth/token", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_token_obtain_and_me(api, seller):
    access = _sign_in(api)["access"]
    claims = jwt.decode(access, settings.JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(seller.pk)
    assert claims["role"] == "user"
    assert {"exp", "iat", "jti"} <= set(claims)
    me = _me(api, access)
    assert me.status_code == 200
    assert me.json() == {"id": seller.pk, "username": "seller", "role": "user", "blockedAt": None,
                         "blockUntil": None, "blockReason": ""}


def test_wrong_password_is_401_in_error_shape(api, seller):
    response = api.post("/api/auth/token", {"username": "seller", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize("sub_as", [str, int])
def test_token_minted_with_pyjwt_is_accepted_with_a_string_or_numeric_sub(api, seller, sub_as):
    token = jwt.encode({**_claims(seller.pk), "sub": sub_as(seller.pk)}, settings.JWT_SECRET, algorithm="HS256")
    response = _me(api, token)
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["username"]) == (seller.pk, "seller")


def test_role_comes_from_the_database_not_the_token(api, seller, listing):
    token = _mint(seller.pk, role="admin")
    response = api.post(f"/api/listings/{listing.pk}/approve", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403


@pytest.mark.parametrize("make_token, code", [
    pytest.param(lambda uid: jwt.encode(_claims(uid), None, algorithm="none"), "token_not_valid", id="alg-none"),
    pytest.param(lambda uid: _mint(uid, alg="HS512"), "token_not_valid", id="hs512"),
    pytest.param(lambda uid: _mint(uid, alg="HS384"), "token_not_valid", id="hs384"),
    pytest.param(lambda uid: _mint(uid, secret="another-secret-of-sufficient-length-123456"), "token_not_valid",
                 id="wrong-secret"),
    pytest.param(lambda uid: _mint(uid, exp=int(time.time()) - 60), "token_not_valid", id="expired"),
    pytest.param(lambda uid: jwt.encode({k: v for k, v in _claims(uid).items() if k != "exp"}, settings.JWT_SECRET,
                                        algorithm="HS256"), "token_not_valid", id="no-exp"),
    pytest.param(lambda uid: _mint(uid, token_type="refresh"), "token_not_valid", id="refresh-as-access"),
    pytest.param(lambda uid: "not.a.jwt", "token_not_valid", id="garbage"),
    pytest.param(lambda uid: _mint(999999), "user_not_found", id="unknown-user"),
])
def test_bad_tokens_are_401(api, seller, make_token, code):
    response = _me(api, make_token(seller.pk))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code


def test_rs256_token_is_401(api, seller):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert _me(api, _mint(seller.pk, secret=pem, alg="RS256")).status_code == 401


def test_tokens_of_deleted_and_inactive_users_are_401(api, make_user):
    gone = make_user(username="gone")
    idle = make_user(username="idle")
    gone_pair, idle_pair = token_pair_for(gone), token_pair_for(idle)
    gone.delete()
    idle.is_active = False
    idle.save(update_fields=["is_active"])
    for pair in (gone_pair, idle_pair):
        assert _me(api, pair["access"]).status_code == 401
        assert _refresh(api, pair["refresh"]).status_code == 401


def test_refresh_token_signed_with_other_secret_is_401(api, seller):
    forged = _mint(seller.pk, secret="x" * 40, token_type="refresh")
    assert _refresh(api, forged).status_code == 401


def test_refresh_gives_a_new_access_token_with_the_current_role(api, seller):
    pair = _sign_in(api)
    seller.role = Role.MODERATOR
    seller.save(update_fields=["role"])
    response = _refresh(api, pair["refresh"])
    assert response.status_code == 200
    assert jwt.decode(response.json()["access"], settings.JWT_SECRET, algorithms=["HS256"])["role"] == "moderator"
    assert _refresh(api, pair["access"]).status_code == 401


def test_refresh_tokens_rotate_and_a_used_one_is_refused(api, seller):
    pair = _sign_in(api)
    first = _refresh(api, pair["refresh"])
    assert first.status_code == 200 and set(first.json()) == {"access", "refresh"}
    assert _refresh(api, pair["refresh"]).status_code == 401
    assert _refresh(api, first.json()["refresh"]).status_code == 200


def _expired_by(seconds: int, user, token_type: str | None = None) -> str:
    extra = {"token_type": token_type} if token_type else {}
    return _mint(user.pk, user.role, exp=int(time.time()) - seconds, **extra)


def _ws_first_output(token: str) -> dict:
    async def run():
        async with ws_open(headers=[(b"authorization", f"Bearer {token}".encode())]) as (comm, _):
            return await comm.receive_output(timeout=5)

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
def test_leeway_is_applied_alike_on_api_refresh_and_websocket(api, settings, seller):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 30}
    inside_access, inside_refresh = _expired_by(10, seller), _expired_by(10, seller, "refresh")
    outside_access, outside_refresh = _expired_by(60, seller), _expired_by(60, seller, "refresh")

    assert _me(api, inside_access).status_code == 200
    assert _refresh(api, inside_refresh).status_code == 200
    ready = _ws_first_output(inside_access)
    assert ready["type"] == "websocket.send" and '"ready"' in ready["text"]

    assert _me(api, outside_access).status_code == 401
    assert _refresh(api, outside_refresh).status_code == 401
    assert _ws_first_output(outside_access) == {"type": "websocket.close", "code": 4001}


# --- tokens verified once per process (accounts.tokens.token_decode) ---------------------------

def test_a_token_seen_again_is_not_verified_again_but_its_times_are(api, seller, settings, monkeypatch):
    """The signature is checked once per process; `exp` (with the leeway), `nbf` and `iat` on every
    request, so a remembered token still stops working when it expires."""
    import accounts.tokens as tokens

    token = _mint(seller.pk)
    exp = jwt.decode(token, settings.JWT_SECRET, algorithms=["HS256"])["exp"]
    calls = []
    real_decode = jwt.decode
    monkeypatch.setattr(tokens.jwt, "decode", lambda *a, **kw: calls.append(1) or real_decode(*a, **kw))
    assert _me(api, token).status_code == 200 and _me(api, token).status_code == 200
    assert len(calls) == 1
    monkeypatch.setattr(tokens.time, "time", lambda: exp + 5)
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 10}
    assert _me(api, token).status_code == 200  # within the leeway, read per request
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 0}
    response = _me(api, token)
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_not_valid"
    assert len(calls) == 1


def test_a_remembered_token_with_another_signature_or_a_future_nbf_is_refused(api, seller, monkeypatch):
    import accounts.tokens as tokens

    token = _mint(seller.pk, nbf=int(time.time()) - 1)
    assert _me(api, token).status_code == 200
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert _me(api, forged).status_code == 401  # another string: verified, and refused
    monkeypatch.setattr(tokens.time, "time", lambda: 0.0)  # a clock before its nbf and iat
    assert _me(api, token).status_code == 401


def test_the_remembered_tokens_are_bounded_and_still_expire(seller, monkeypatch):
    """The last VERIFIED_MAX tokens used are remembered; an older one is verified again (and then
    pushes out the least recently used); a remembered token is refused once it has expired."""
    import accounts.tokens as tokens
    from rest_framework_simplejwt.exceptions import TokenBackendExpiredToken

    raws = [_mint(seller.pk) for _ in range(tokens.VERIFIED_MAX + 1)]
    for raw in raws:
        assert tokens.token_decode(raw)["sub"] == str(seller.pk)
    verified = []
    real_decode = jwt.decode
    monkeypatch.setattr(tokens.jwt, "decode", lambda raw, *a, **kw: verified.append(raw) or real_decode(raw, *a, **kw))

    for raw in (raws[-1], raws[1], raws[0], raws[3], raws[2]):
        assert tokens.token_decode(raw)["sub"] == str(seller.pk)

    assert verified == [raws[0], raws[2]]  # raws[0] was out; taking it back pushed out raws[2]
    claims = tokens.token_decode(raws[-1])
    claims["role"] = "admin"  # callers get a copy
    assert tokens.token_decode(raws[-1])["role"] == "user"
    exp = claims["exp"]
    monkeypatch.setattr(tokens.time, "time", lambda: exp + 1)
    with pytest.raises(TokenBackendExpiredToken):
        tokens.token_decode(raws[-1])
    assert verified == [raws[0], raws[2]]
