"""Idempotency-Key for unsafe API requests (IETF httpapi-idempotency-key-header draft; Stripe).

Semantics (docs/wallet.md):
* the key is scoped to the caller (unique per user) and required: missing or malformed -> 400;
* the first request claims the key by INSERTing it (unique constraint, `ON CONFLICT DO NOTHING`),
  committed at once so every other request sees the claim;
* same key + same request (fingerprint = method, path, canonical JSON body) after completion ->
  the stored status and body again, with `Idempotent-Replayed: true`. The body is stored as the
  exact bytes first sent (text, not jsonb, which would reorder keys on PostgreSQL), so a replay
  is byte-identical to the first answer on both databases;
* same key + a different request -> 422 `idempotency_key_reused` (draft §2.7);
* same key while the first request is still running -> 409 `idempotency_key_in_flight`;
* the response is stored in the SAME transaction as the work, so a key is completed exactly when
  its effects committed. When the work fails (any error) the claim is released and the key can
  be retried: errors are not replayed (Stripe does the same for requests that failed validation;
  here every error wrote nothing, so replaying it would only hide a later success);
* a claim older than IDEMPOTENCY_LOCK_TIMEOUT_SECONDS (crashed worker) may be taken over; the
  takeover changes the lock token, so the old request's completion fails and rolls back its work;
* keys are purged IDEMPOTENCY_KEY_TTL_HOURS (24) after creation (`idempotency_keys_purge`).

Usage: a service wraps its write in `idempotent_call` (e.g. `wallet.services.refunds.refund_request`)
and the view answers `stored_response_http(stored)`; the view reads the key once with
`key_from_request` before validating the body.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from core.errors import Conflict, ErrorCode, Unprocessable, ValidationFailed

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

_CLAIM_SQL = (
    'INSERT INTO "{t}" ("owner_id", "key", "fingerprint", "status", "lock_token", "locked_at", "created_at") '
    'VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT ("owner_id", "key") DO NOTHING RETURNING "id"'
).format(t=IdempotencyKey._meta.db_table)
# PostgreSQL: the same in one statement that also turns synchronous_commit off for its own (implicit,
# autocommit) transaction: the claim need not survive a database crash — the journal entry keeps the
# key under a unique constraint, so a lost claim can never lead to a second credit — and not waiting
# for the WAL flush saves a disk sync per request. One round trip instead of BEGIN, SET LOCAL, INSERT,
# COMMIT (docs/benchmarks.md).
_CLAIM_SQL_PG = (
    'INSERT INTO "{t}" ("owner_id", "key", "fingerprint", "status", "lock_token", "locked_at", "created_at") '
    "SELECT %s, %s, %s, %s, %s, %s, %s FROM (SELECT set_config('synchronous_commit', 'off', true)) AS sc "
    'ON CONFLICT ("owner_id", "key") DO NOTHING RETURNING "id"'
).format(t=IdempotencyKey._meta.db_table)

_COMPLETE_SQL = (
    'UPDATE "{t}" SET "status" = %s, "response_status" = %s, "response_body" = %s '
    'WHERE "id" = %s AND "lock_token" = %s AND "status" = %s'
).format(t=IdempotencyKey._meta.db_table)


@dataclass(frozen=True)
class Claim:
    """This request holds key row `row_id` with `token`."""

    row_id: int
    token: str


@dataclass(frozen=True)
class Replay:
    """A completed earlier request with the same key and fingerprint: its status and the JSON
    body exactly as it was first sent (UTF-8 bytes)."""

    status: int
    content: bytes


@dataclass(frozen=True)
class StoredResponse:
    """The answer to a request under an Idempotency-Key: HTTP `status`, `content` (the JSON body
    as bytes, identical for the first answer and every replay) and whether it is a `replayed`
    answer of an earlier request (then the view adds `Idempotent-Replayed: true`)."""

    status: int
    content: bytes
    replayed: bool


@dataclass(frozen=True)
class Answer:
    """What an idempotent write returns to `idempotent_call`: HTTP `status`, the JSON-able `body`,
    and `replayed` when the write itself found an earlier one under the same key (the ledger's
    own key, kept after the key row is purged)."""

    status: int
    body: dict
    replayed: bool = False


def key_from_request(request) -> str:
    """The Idempotency-Key header (a bare token or an RFC 8941 string in quotes).
    Raises ValidationFailed (400 `idempotency_key_required`) when missing, empty, too long or
    not printable ASCII."""
    raw = (request.headers.get(HEADER) or "").strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    if not raw or len(raw) > MAX_KEY_LENGTH or not all(32 < ord(c) < 127 for c in raw):
        raise ValidationFailed(
            f"The {HEADER} header is required: 1..{MAX_KEY_LENGTH} printable ASCII characters, unique per request.",
            code=ErrorCode.IDEMPOTENCY_KEY_REQUIRED, fields={HEADER: "Required."})
    return raw


def fingerprint(*, method: str, path: str, data) -> str:
    """sha256 of method, path and the canonical JSON of the parsed body (sorted keys, no spaces)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def _insert(*, owner_id: int, key: str, fp: str, token: str) -> int | None:
    now = timezone.now()
    sql = _CLAIM_SQL_PG if connection.vendor == "postgresql" else _CLAIM_SQL
    with connection.cursor() as cursor:  # one statement: atomic by itself in autocommit
        cursor.execute(sql, [owner_id, key, fp, IdempotencyKey.Status.IN_FLIGHT, token, now, now])
        row = cursor.fetchone()
    return row[0] if row else None


def idempotency_claim(*, owner_id: int, key: str, fp: str) -> Claim | Replay:
    """Claim `key` for `owner_id`, or return the stored response to replay.

    Call in autocommit (outside any transaction) so the claim is visible to concurrent requests
    at once. Raises Unprocessable (422 `idempotency_key_reused`) for a different request and
    Conflict (409 `idempotency_key_in_flight`) while the first one runs. Never raises a
    database error for a concurrent duplicate: the unique constraint decides, without errors.
    """
    now = timezone.now()
    for _ in range(3):  # a released or expired key can vanish between INSERT and SELECT: retry
        token = uuid.uuid4().hex
        row_id = _insert(owner_id=owner_id, key=key, fp=fp, token=token)
        if row_id is not None:
            return Claim(row_id=row_id, token=token)
        row = IdempotencyKey.objects.filter(owner_id=owner_id, key=key).first()
        if row is None:
            continue
        if row.created_at < now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS):
            IdempotencyKey.objects.filter(pk=row.pk, lock_token=row.lock_token).delete()  # expired, not yet purged
            continue
        if row.fingerprint != fp:
            raise Unprocessable(f"This {HEADER} was already used for a different request.",
                                code=ErrorCode.IDEMPOTENCY_KEY_REUSED, fields={HEADER: "Used with a different request."})
        if row.status == IdempotencyKey.Status.COMPLETED:
            return Replay(status=row.response_status, content=row.response_body.encode())
        if row.locked_at < now - timedelta(seconds=settings.IDEMPOTENCY_LOCK_TIMEOUT_SECONDS):
            taken = IdempotencyKey.objects.filter(
                pk=row.pk, status=IdempotencyKey.Status.IN_FLIGHT, lock_token=row.lock_token
            ).update(lock_token=token, locked_at=now)
            if taken:
                return Claim(row_id=row.pk, token=token)
        break
    raise Conflict(f"A request with this {HEADER} is still being processed; retry later.",
                   code=ErrorCode.IDEMPOTENCY_KEY_IN_FLIGHT, fields={HEADER: "In flight."})


def idempotency_complete(*, claim: Claim, status: int, content: bytes) -> None:
    """Store the response (status, JSON body bytes) of the claimed request. Call inside the
    transaction of the work; raises Conflict (rolling the work back) when the claim was taken
    over meanwhile."""
    with connection.cursor() as cursor:  # one guarded UPDATE, its SQL written once (no ORM compile per request)
        cursor.execute(_COMPLETE_SQL, [IdempotencyKey.Status.COMPLETED, status, content.decode(), claim.row_id,
                                       claim.token, IdempotencyKey.Status.IN_FLIGHT])
        done = cursor.rowcount
    if not done:
        raise Conflict(f"The claim on this {HEADER} expired and was taken over; nothing was done.",
                       code=ErrorCode.IDEMPOTENCY_KEY_IN_FLIGHT)


def idempotency_release(*, claim: Claim) -> None:
    """Forget an unfinished claim (the work failed and wrote nothing) so the key can be retried."""
    IdempotencyKey.objects.filter(pk=claim.row_id, lock_token=claim.token,
                                  status=IdempotencyKey.Status.IN_FLIGHT).delete()


def idempotent_call(*, owner_id: int, key: str, fp: str, handler: Callable[..., Answer],
                    prepare: Callable[[], Any] | None = None) -> StoredResponse:
    """Run `handler()` at most once per (owner, key) and answer its response; a repeat with the
    same fingerprint answers the stored response, byte for byte, with `replayed=True`.

    `handler` runs inside a transaction that also stores its rendered answer, so the key is
    completed exactly when the work committed; when it raises, the claim is released and the
    error propagates. `prepare()`, when given, runs once the key is claimed and before that
    transaction, for a remote call that must not sit inside it (creating a gateway order);
    `handler(prepared)` then receives its result. Call outside any transaction (the claim commits
    at once). Raises Unprocessable (422 `idempotency_key_reused`) and Conflict (409
    `idempotency_key_in_flight`), see `idempotency_claim`."""
    outcome = idempotency_claim(owner_id=owner_id, key=key, fp=fp)
    if isinstance(outcome, Replay):
        return StoredResponse(status=outcome.status, content=outcome.content, replayed=True)
    try:
        args = () if prepare is None else (prepare(),)
        with transaction.atomic():
            answer = handler(*args)
            content = JSONRenderer().render(answer.body)
            idempotency_complete(claim=outcome, status=answer.status, content=content)
    except BaseException:
        idempotency_release(claim=outcome)
        raise
    return StoredResponse(status=answer.status, content=content, replayed=answer.replayed)


def idempotent_response(request, *, handler: Callable[..., tuple[int, dict]],
                        prepare: Callable[[str], Any] | None = None) -> HttpResponse:
    """For a view: `idempotent_call` keyed by the request's Idempotency-Key and fingerprint, with
    `handler(key[, prepared])` answering (status, body) and `prepare(key)` as there; the HTTP
    response of `stored_response_http`. Validate the body before calling this (invalid input never
    claims a key)."""
    key = key_from_request(request)
    stored = idempotent_call(
        owner_id=request.user.pk, key=key, fp=fingerprint(method=request.method, path=request.path, data=request.data),
        handler=lambda *prepared: Answer(*handler(key, *prepared)),
        prepare=None if prepare is None else (lambda: prepare(key)))
    return stored_response_http(stored)


def stored_response_http(stored: StoredResponse) -> HttpResponse:
    """The HTTP response for `stored`: its exact bytes as application/json, plus
    `Idempotent-Replayed: true` on a replay."""
    response = HttpResponse(stored.content, status=stored.status, content_type="application/json")
    if stored.replayed:
        response[REPLAYED_HEADER] = "true"
    return response


def idempotency_keys_purge(*, older_than_hours: int | None = None) -> int:
    """Delete keys created more than `older_than_hours` (default IDEMPOTENCY_KEY_TTL_HOURS) ago.
    Returns how many were deleted. Safe to run twice at once."""
    hours = settings.IDEMPOTENCY_KEY_TTL_HOURS if older_than_hours is None else older_than_hours
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
    return deleted
