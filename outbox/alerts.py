"""`admin.alert` events: what the live admin dashboard lists for moderators and admins.

Kinds in use: `listing.pending` (new listing awaits moderation), `refund.issued`, `payout.failed`,
`outbox.failed`, `user.blocked`. Any app may raise one; like every event it is an outbox row, so
call it inside the transaction of the change.
"""
from __future__ import annotations

from .services import GROUP_ADMIN, publish

ADMIN_ALERT = "admin.alert"


def admin_alert(*, kind: str, message: str, data: dict | None = None) -> None:
    """Publish `admin.alert` {kind, message, ...data} to the `admin` group (inside the transaction)."""
    publish(channel=ADMIN_ALERT, groups=[GROUP_ADMIN], data={"kind": kind, "message": message, **(data or {})})
