"""JWT acceptance rules (docs/access-and-hardening.md): only HS256 with JWT_SECRET; leeway the same on API, refresh, websocket."""
from __future__ import annotations

import time

import jwt
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework.test import APIClient

from accounts.tokens import token_pair_for
from dgt.asgi import application

pytestmark = pytest.mark.django_db


def _claims(user, **extra):
    now = int(time.time())
    return {"sub": str(user.pk), "role": user.role, "iat": now, "exp": now + 300, "jti": "t1", **extra}


def _get_me(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/me")


def test_external_hs256_token_with_numeric_sub_is_accepted(seller):
    token = jwt.encode({**_claims(seller), "sub": seller.pk}, settings.JWT_SECRET, algorithm="HS256")
    response = _get_me(token)
    assert response.status_code == 200 and response.json()["username"] == "seller"


@pytest.mark.parametrize("make", [
    pytest.param(lambda c: jwt.encode(c, None, algorithm="none"), id="alg-none"),
    pytest.param(lambda c: jwt.encode(c, settings.JWT_SECRET, algorithm="HS512"), id="hs512"),
    pytest.param(lambda c: jwt.encode(c, settings.JWT_SECRET, algorithm="HS384"), id="hs384"),
    pytest.param(lambda c: jwt.encode(c, "another-secret-of-sufficient-length-123456", algorithm="HS256"),
                 id="wrong-secret"),
    pytest.param(lambda c: jwt.encode({**c, "exp": int(time.time()) - 10}, settings.JWT_SECRET, algorithm="HS256"),
                 id="expired"),
    pytest.param(lambda c: jwt.encode({k: v for k, v in c.items() if k != "exp"}, settings.JWT_SECRET,
                                      algorithm="HS256"), id="no-exp"),
    pytest.param(lambda c: jwt.encode({**c, "token_type": "refresh"}, settings.JWT_SECRET, algorithm="HS256"),
                 id="refresh-as-access"),
    pytest.param(lambda c: "not.a.jwt", id="garbage"),
])
def test_bad_tokens_are_401(seller, make):
    response = _get_me(make(_claims(seller)))
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("token_not_valid", "authentication_failed")


def test_rs256_token_is_401(seller):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert _get_me(jwt.encode(_claims(seller), pem, algorithm="RS256")).status_code == 401


def test_tokens_of_deleted_and_inactive_users_are_401(make_user):
    gone = make_user(username="gone")
    idle = make_user(username="idle")
    gone_pair, idle_pair = token_pair_for(gone), token_pair_for(idle)
    gone.delete()
    idle.is_active = False
    idle.save(update_fields=["is_active"])
    for pair in (gone_pair, idle_pair):
        assert _get_me(pair["access"]).status_code == 401
        refresh = APIClient().post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
        assert refresh.status_code == 401


def test_refresh_token_signed_with_other_secret_is_401(seller):
    forged = jwt.encode({**_claims(seller), "token_type": "refresh"}, "x" * 40, algorithm="HS256")
    response = APIClient().post("/api/auth/token/refresh", {"refresh": forged}, format="json")
    assert response.status_code == 401


def _expired_by(seconds: int, user, token_type: str | None = None) -> str:
    claims = _claims(user, exp=int(time.time()) - seconds)
    if token_type:
        claims["token_type"] = token_type
    return jwt.encode(claims, settings.JWT_SECRET, algorithm="HS256")


def _ws_status(token: str):
    async def run():
        comm = WebsocketCommunicator(application, "/ws/events/", headers=[(b"authorization", f"Bearer {token}".encode())])
        await comm.connect()
        first = await comm.receive_output(timeout=5)
        await comm.disconnect()
        return first

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
def test_leeway_is_applied_alike_on_api_refresh_and_websocket(settings, seller):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 30}
    inside_access, inside_refresh = _expired_by(10, seller), _expired_by(10, seller, "refresh")
    outside_access, outside_refresh = _expired_by(60, seller), _expired_by(60, seller, "refresh")

    assert _get_me(inside_access).status_code == 200
    assert APIClient().post("/api/auth/token/refresh", {"refresh": inside_refresh}, format="json").status_code == 200
    ready = _ws_status(inside_access)
    assert ready["type"] == "websocket.send" and '"ready"' in ready["text"]

    assert _get_me(outside_access).status_code == 401
    assert APIClient().post("/api/auth/token/refresh", {"refresh": outside_refresh}, format="json").status_code == 401
    assert _ws_status(outside_access) == {"type": "websocket.close", "code": 4001}
