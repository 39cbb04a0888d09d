"""Run a coroutine's first steps now, in the caller, and a task only if it has to wait.

A fan-out writes one frame to many sockets. Awaiting each write in turn lets one socket under
backpressure (its transport paused until the client reads) hold back every socket after it; a task
per write costs a task and two passes of the event loop per socket per frame, which is most of a
fan-out's time when nothing waits. `start_eagerly` does what `asyncio.Task(..., eager_start=True)`
does on Python 3.12+ (this project runs 3.11): the coroutine runs synchronously until it finishes,
the usual case for a websocket send whose transport is not paused, or until it first waits for a
future; only then does the rest continue in a coroutine the caller schedules
(docs/realtime.md, "Socket.IO clients", writes).
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any] | None:
    """Step `coro` until it returns or first waits.

    Returns None when it returned without waiting (its result is discarded), or a coroutine
    that, awaited, waits for what `coro` waits on and finishes it (returning `coro`'s result or
    raising its exception). An exception `coro` raises before waiting propagates from this call.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return _finish(coro, waiting_on)


async def _finish(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """Drive `coro` on from a suspension point as asyncio's Task would: wait for the future it
    yielded (None: a bare yield, `asyncio.sleep(0)`) and resume it, `coro` reading the future's
    outcome itself. Cancelled while waiting: the future is cancelled and the cancellation thrown
    into `coro` at its suspension point, so its cleanup runs."""
    while True:
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait([waiting_on])
        except asyncio.CancelledError:
            if waiting_on is not None:
                waiting_on.cancel()
            step = coro.throw
            arg: Any = asyncio.CancelledError()
        else:
            step, arg = coro.send, None
        try:
            waiting_on = step(arg)
        except StopIteration as done:
            return done.value
