"""How many websocket handshakes a process runs at once (docs/operations.md, "Reconnect storm").

After a restart every client comes back in the same second. Run all at once, 10,000 handshakes
share one event loop: every pass of the loop runs a step of each, so a handshake's every await (the
hub's SUBSCRIBE, the batched user read, the resume read) waits a whole pass, passes grow to
seconds, no socket is ready until nearly all are, and Redis and database calls made in that loop
time out (REDIS_SOCKET_TIMEOUT_SECONDS) although their servers are idle. `handshake_slot()` admits
WS_HANDSHAKES_IN_FLIGHT at a time: the others wait before the server answers their upgrade (a
suspended task each, no work), and sockets become ready in a steady stream from the first second.
"""
from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from django.conf import settings

_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def handshake_slot() -> AsyncIterator[None]:
    """Hold one of the running loop's WS_HANDSHAKES_IN_FLIGHT handshake slots for the block (no
    limit when the setting is 0). Waiters are admitted in arrival order."""
    limit = settings.WS_HANDSHAKES_IN_FLIGHT
    if limit <= 0:
        yield
        return
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(limit)
    async with slots:
        yield
