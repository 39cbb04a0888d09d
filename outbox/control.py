"""Control messages to a user's open sockets (not events: nothing is stored or replayed).

`sockets_recheck(user_id)` asks every socket of the user, in every process, to reload the user
from the database and close itself when it no longer may stay open: on `/ws/events/` 4001 when
the user is deleted or inactive, 4003 when blocked or when they lost the role that put the socket
in `admin`; a Socket.IO socket is disconnected, or leaves the `admin` room on a lost role
(docs/realtime.md). Sent after commit, so the sockets read the committed state.
"""
from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .services import user_group

log = logging.getLogger(__name__)

RECHECK = "access.recheck"


def _send_recheck(user_id: int) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": RECHECK, "userId": user_id})
    except Exception as exc:  # layer down: sockets re-check on their own heartbeat
        log.warning("socket recheck for user %s not sent: %s", user_id, exc)


def sockets_recheck(*, user_id: int) -> None:
    """After the caller's transaction commits, make the user's open sockets re-read the user."""
    transaction.on_commit(lambda: _send_recheck(user_id))
