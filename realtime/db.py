"""Database calls of the websocket process, off asgiref's one thread-sensitive thread.

`database_sync_to_async` runs every call in one shared thread, so 1,000 sockets authenticating
at once queue behind each other, each opening a new PostgreSQL connection (CONN_MAX_AGE is 0
under ASGI): that was the connect path's profile (docs/benchmarks.md, reconnect storm). With
Django's psycopg pool configured (DB_POOL_MAX_SIZE > 0, the Procfile's ws line), `db_call` runs
the function in a small executor of DB_POOL_MAX_SIZE - 1 threads (one connection of the pool
stays for the thread-sensitive thread: sessions, rechecks), and closing the connection after
each call hands it back to the pool. Without a pool (tests, embedded mode) it is channels'
`database_sync_to_async`: one thread, so a test's open transaction is visible to the call.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.conf import settings

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _pool_executor() -> ThreadPoolExecutor | None:
    """The process's DB executor when a pool is configured, else None (created on first use)."""
    global _executor
    if settings.DB_POOL_MAX_SIZE <= 0:
        return None
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(1, settings.DB_POOL_MAX_SIZE - 1),
                                           thread_name_prefix="ws-db")
        return _executor


async def db_call(fn, /, *args, **kwargs):
    """Await `fn(*args, **kwargs)` (sync, may query the database) off the event loop.

    Connections are closed before and after (returned to the pool when there is one), so no
    thread keeps one. Exceptions of `fn` propagate.
    """
    executor = _pool_executor()
    if executor is None:
        return await database_sync_to_async(fn)(*args, **kwargs)
    return await DatabaseSyncToAsync(fn, thread_sensitive=False, executor=executor)(*args, **kwargs)
