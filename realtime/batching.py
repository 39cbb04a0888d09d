"""Reads batched across the sockets of one event loop (docs/realtime.md, "Connect path").

`ReadBatcher(read)` coalesces requests: `await batcher.ask(request)` queues the request; one reader
task per batcher takes every request queued so far (at most `max_batch`), runs `read(requests)`
once through `db_call` (the ws process's database threads) and hands each waiter its answer.
Requests that arrive while a read runs form the next batch, so a lone request waits for nobody
and a storm of them costs a few dozen database calls instead of one each.

A batcher belongs to one event loop: `per_loop(factory)` gives the running loop's own instance
(tests run each on a loop of its own).
"""
from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .db import db_call


class ReadBatcher:
    """See the module doc. `read(requests) -> answers` is sync (it may query the database) and
    returns one answer per request, in order; each waiter gets `(answer, started_ns)`, where
    started_ns is the loop's time.monotonic_ns() just before the read was issued."""

    def __init__(self, read: Callable[[list], Sequence], *, max_batch: int = 500):
        self._read = read
        self._max = max_batch
        self._queue: list[tuple[Any, asyncio.Future]] = []
        self._reader: asyncio.Task | None = None

    async def ask(self, request) -> tuple[Any, int]:
        """The answer to `request` and when its batch's read began. Raises what the read raised
        (every waiter of that batch gets the error; the next batch reads again)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((request, future))
        if self._reader is None:
            self._reader = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self._max], self._queue[self._max:]
                started = time.monotonic_ns()
                try:
                    answers = await db_call(self._read, [request for request, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), answer in zip(batch, answers):
                    if not future.done():
                        future.set_result((answer, started))
        finally:
            self._reader = None


_instances: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


def per_loop(factory: Callable[[], ReadBatcher]) -> ReadBatcher:
    """The running loop's instance of the batcher `factory` makes (one per loop and factory)."""
    own = _instances.setdefault(asyncio.get_running_loop(), {})
    batcher = own.get(factory)
    if batcher is None:
        batcher = own[factory] = factory()
    return batcher
