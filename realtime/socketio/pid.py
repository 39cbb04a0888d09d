"""Recovery session ids (`pid`) for socket.io-client's connection state recovery (docs/realtime.md).

socket.io-client v4 keeps the `pid` of the server's CONNECT reply and the last string argument
of each event (the offset); after a drop it sends `{pid, offset}` in its CONNECT auth and sets
`socket.recovered` when the reply carries the same pid. dgt's pid is stateless and signed:
`<user id>.<watermark>` (the largest outbox id when the session began) signed with SECRET_KEY
and a timestamp (django.core.signing.TimestampSigner). Any process can verify it, however long
ago it was issued; the offsets are outbox ids, so the missed events are read from the outbox.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.core import signing

SALT = "realtime.socketio.pid"
_signer = signing.TimestampSigner(salt=SALT)


@dataclass(frozen=True)
class Session:
    """What a valid pid says: whose it is, the watermark, and when it was issued (epoch seconds)."""

    pid: str
    user_id: int
    watermark: int
    issued_at: float


def pid_issue(*, user_id: int, watermark: int) -> str:
    """A new pid for `user_id` whose events after outbox id `watermark` are owed to the client."""
    return _signer.sign(f"{user_id}.{watermark}")


def pid_read(pid, *, user_id: int) -> Session | None:
    """The session of `pid` when it is well-formed, signed by us and belongs to `user_id`; else None
    (a forged pid, or another user's, is ignored: the socket starts a new session)."""
    if not isinstance(pid, str) or len(pid) > 200:
        return None
    try:
        value = _signer.unsign(pid)
        owner, watermark = (int(part) for part in value.split("."))
        issued_at = signing.b62_decode(pid.rsplit(":", 2)[-2])
    except (signing.BadSignature, ValueError):
        return None
    if owner != user_id or watermark < 0:
        return None
    return Session(pid=pid, user_id=owner, watermark=watermark, issued_at=float(issued_at))


_MAX_ID = 2**63 - 1  # outbox ids are PostgreSQL bigint


def offset_read(offset) -> int | None:
    """The outbox id of a client's `offset` (the last argument of the last event it received);
    None for anything but ASCII digits naming a bigint (str.isdigit also accepts "²", which int()
    refuses: a client must not be able to fail the handshake with it)."""
    if isinstance(offset, str) and 0 < len(offset) < 20 and offset.isascii() and offset.isdigit():
        value = int(offset)
        return value if value <= _MAX_ID else None
    return None
