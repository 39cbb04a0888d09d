"""Diagnostic (not in the table): what one after-commit send costs a sync process (gunicorn worker,
Celery task) today, next to a plain PUBLISH of the same bytes on a kept Redis connection.

`outbox.services.send_rows` calls `async_to_sync(group_send)`. From sync code that makes a new
event loop per call, and channels-redis' pub/sub layer keeps one connection per loop, so every
call also connects to Redis. The second figure is what a long-lived sync publisher (the layer's
group channel name and serializer, one redis-py connection) would pay.
Run: .venv/bin/python bench/outbox_send_cost.py [--json out.json]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_DB_PREFIX, PG_URL, ROOT, parser, run_main, server_env, with_db  # noqa: E402


def body(args) -> dict:
    n = 50 if args.smoke else 500
    # no database is touched; the URL only satisfies services-mode settings
    os.environ.update(server_env(with_db(PG_URL, f"{BENCH_DB_PREFIX}_unused"), DJANGO_SETTINGS_MODULE="dgt.settings"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import redis
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    msg = {"type": "outbox.event", "id": 1, "text": "x" * 250}

    async def send():
        await layer.group_send("user.bench", msg)

    t0 = time.perf_counter()
    for _ in range(n):
        async_to_sync(send)()
    per_call = (time.perf_counter() - t0) / n * 1000
    conn = redis.Redis.from_url(os.environ["REDIS_URL"])
    channel = f"{os.environ['CHANNEL_PREFIX']}__group__user.bench"
    t0 = time.perf_counter()
    for _ in range(n):
        conn.publish(channel, layer.serialize(msg))
    kept = (time.perf_counter() - t0) / n * 1000
    conn.close()
    print(f"    async_to_sync(group_send) from sync code: {per_call:.2f} ms per call; PUBLISH on a kept connection: "
          f"{kept:.2f} ms ({per_call / kept:.1f} x)")
    return {"calls": n, "asyncToSyncMs": per_call, "keptConnectionMs": kept, "ratio": per_call / kept}


if __name__ == "__main__":
    a = parser(__doc__.splitlines()[0]).parse_args()
    sys.exit(run_main("outbox_send_cost", a, body))
