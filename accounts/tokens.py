"""JWT access tokens: HS256 with JWT_SECRET; claims `sub` (user id), `role`, `exp`, `iat`, `jti`.

Tokens minted by other services (the Node apps sign with jsonwebtoken, tests with PyJWT) carry
no `token_type` claim and may carry `sub` as a number; both are accepted. A simplejwt refresh
token (token_type "refresh") is never accepted as an access token.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import jwt
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken as _AccessToken
from rest_framework_simplejwt.tokens import RefreshToken as _RefreshToken


_MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z


class LenientSubjectBackend(TokenBackend):
    """simplejwt's backend, except that `sub` may be a number (RFC 7519 says StringOrURI, but the
    existing apps send user ids as numbers). Only HS256 is accepted: `alg: none` and any other
    algorithm fail verification."""

    def get_leeway(self) -> timedelta:
        # Read per call (not frozen at import) so API, refresh and websocket always agree with
        # settings.SIMPLE_JWT["LEEWAY"], including under override_settings.
        leeway = jwt_settings.api_settings.LEEWAY  # the module attribute: simplejwt rebinds it on reload
        return leeway if isinstance(leeway, timedelta) else timedelta(seconds=leeway or 0)

    def decode(self, token, verify: bool = True) -> dict[str, Any]:
        if not verify:
            return self._decode(token, verify=False)
        claims = _verified_claims(self, token, self.get_verifying_key(token))
        _check_times(claims, self.get_leeway().total_seconds())
        return dict(claims)

    def _decode(self, token, verify: bool) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self.get_verifying_key(token),
                algorithms=["HS256"],
                leeway=self.get_leeway(),
                options={"verify_signature": verify, "verify_sub": False, "require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise TokenBackendExpiredToken("Token is expired") from e
        except jwt.InvalidTokenError as e:
            raise TokenBackendError("Token is invalid") from e
        # Times past year 9999 cannot become datetimes (simplejwt converts exp): invalid, not a 500.
        if any(isinstance(claims.get(c), (int, float)) and not 0 <= claims[c] <= _MAX_EPOCH for c in ("exp", "iat", "nbf")):
            raise TokenBackendError("Token is invalid")
        return claims


VERIFIED_MAX = 2048


@functools.lru_cache(maxsize=VERIFIED_MAX)
def _verified_claims(backend: LenientSubjectBackend, token: str | bytes, key: str) -> Mapping[str, Any]:
    """The claims of `token` as `backend` verifies them (signature, HS256, the claims, the times as
    of the first call); `key` is the backend's verifying key, part of the cache key. Read-only: the
    value is shared by every later call with the same arguments.

    The same bytes always verify the same way with the same key, so a token this process verified
    is not verified again (its base64, JSON and HMAC: ~35 us, about a tenth of GET /api/wallet;
    docs/benchmarks.md, "Per-request overhead"); the caller checks its times on every call
    (`_check_times`). The last VERIFIED_MAX tokens used are kept; a refused token raises and is not
    kept. Raises TokenBackendError / TokenBackendExpiredToken."""
    return MappingProxyType(backend._decode(token, verify=True))


def _check_times(claims: Mapping[str, Any], leeway: float) -> None:
    """PyJWT's time checks of a verified token, now: `iat` and `nbf` not after now + leeway
    (TokenBackendError), `exp` after now - leeway (TokenBackendExpiredToken)."""
    now = time.time()
    if ("iat" in claims and int(claims["iat"]) > now + leeway) or ("nbf" in claims and int(claims["nbf"]) > now + leeway):
        raise TokenBackendError("Token is invalid")
    if int(claims["exp"]) <= now - leeway:
        raise TokenBackendExpiredToken("Token is expired")


_backend = LenientSubjectBackend(
    algorithm="HS256",
    signing_key=api_settings.SIGNING_KEY,
    leeway=api_settings.LEEWAY,
)


class AccessToken(_AccessToken):
    """An access token; `token_type` is optional (external issuers omit it) but must be
    "access" when present."""

    def get_token_backend(self):
        return _backend

    def verify_token_type(self) -> None:
        if api_settings.TOKEN_TYPE_CLAIM in self.payload:
            super().verify_token_type()


class RefreshToken(_RefreshToken):
    access_token_class = AccessToken

    def get_token_backend(self):
        return _backend


def token_decode(raw: str | bytes) -> dict[str, Any]:
    """Verify signature (HS256, JWT_SECRET), `exp` (with leeway) and `sub`; return the claims.
    Raises TokenBackendError / TokenBackendExpiredToken. Type, jti and blacklist are not checked."""
    return _backend.decode(raw)


def token_deadline(token) -> float | None:
    """Epoch seconds after which `token` is refused: its `exp` plus the configured leeway (the
    websocket closes its socket then, as the API and refresh would start refusing it)."""
    exp = token.get("exp")
    return None if exp is None else float(exp) + _backend.get_leeway().total_seconds()


def token_pair_for(user) -> dict[str, str]:
    """Mint `{"access", "refresh"}` for `user`, with `role` in both and `sub` as a string."""
    refresh = RefreshToken.for_user(user)
    refresh[api_settings.USER_ID_CLAIM] = str(user.pk)
    refresh["role"] = user.role
    access = refresh.access_token
    access["role"] = user.role
    return {"access": str(access), "refresh": str(refresh)}


def access_token_for(user) -> str:
    """Mint an access token alone (no refresh token, so nothing is written to the database;
    safe to call from async code). Same claims as `token_pair_for`."""
    access = AccessToken.for_user(user)
    access[api_settings.USER_ID_CLAIM] = str(user.pk)
    access["role"] = user.role
    return str(access)
