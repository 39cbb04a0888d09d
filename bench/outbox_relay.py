"""Benchmark 5 — outbox relay drain: 100,000 pending rows due now; events/s sent to the channel layer.

The relay task (`outbox.tasks.outbox_relay_run`, job `outbox_relay`) is run in this process, as
`manage.py runjob outbox_relay` does, again and again until no row is pending (at most 10,000
runs or 15 minutes). Rows target 1,000 `user.<id>` groups with a ~250-byte payload.
Baseline in the same run: `redis-benchmark` PUBLISH on the same Redis (1 client, and 50 clients).
Goal (docs/benchmarks.md, goal 5): >= 5,000 events/s.
Run: .venv/bin/python bench/outbox_relay.py [--smoke] [--json out.json]
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    CHANNEL_PREFIX, REDIS_URL, bench_database, close_django_connections, parser, run_main, sql_fill,
    task_or_unavailable,
)


def redis_publish_rate(n: int, clients: int) -> float:
    u = urlsplit(REDIS_URL)
    out = subprocess.run(["redis-benchmark", "-h", u.hostname, "-p", str(u.port or 6379), "--dbnum",
                          u.path.lstrip("/") or "0", "-n", str(n), "-c", str(clients), "-q", "PUBLISH",
                          f"{CHANNEL_PREFIX}_bench_baseline", "x" * 250], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    return float(re.findall(r"([\d.]+) requests per second", out)[-1])


def body(args) -> dict:
    n = 2000 if args.smoke else 100_000
    base1 = redis_publish_rate(n, 1)
    base50 = redis_publish_rate(n, 50)
    print(f"    redis-benchmark PUBLISH: {base1:,.0f}/s (1 client), {base50:,.0f}/s (50 clients)", flush=True)
    with bench_database("relay", keep=args.keep_db) as db_url:
        task = task_or_unavailable("outbox.tasks.outbox_relay_run", "outbox relay (runjob outbox_relay)")
        from outbox.models import EventOutbox

        sql_fill(EventOutbox, n, {
            "channel": "'wallet.balance'", "group": "'user.' || (1 + g % 1000)",
            "payload": "jsonb_build_object('userId', 1 + g % 1000, 'balance', '500.00', 'pad', repeat('x', 150))",
            "request_id": "''", "status": "'pending'", "attempts": "0",
            "next_attempt_at": "now() - interval '1 second'", "last_error": "''", "created_at": "now()"})
        close_django_connections()
        pending = EventOutbox.objects.filter(status="pending").count()
        t0 = time.perf_counter()
        runs = 0
        while runs < 10_000 and time.perf_counter() - t0 < 900:
            task.apply(throw=True).get()
            runs += 1
            if not EventOutbox.objects.filter(status="pending").exists():
                break
        secs = time.perf_counter() - t0
        sent = EventOutbox.objects.filter(status="sent").count()
        left = EventOutbox.objects.filter(status="pending").count()
        failed = EventOutbox.objects.filter(status="failed").count()
    rate = sent / secs if secs else 0
    met = left == 0 and failed == 0 and rate >= 5000
    print(f"    {pending:,} pending -> {sent:,} sent in {secs:.1f} s over {runs} relay runs = {rate:,.0f} events/s "
          f"({rate / base1:.2f} x 1-client PUBLISH, {rate / base50:.2f} x 50-client); left {left}, failed {failed}; "
          f"goal {'met' if met else 'NOT met'}")
    return {"rows": pending, "sent": sent, "left": left, "failed": failed, "drainSeconds": round(secs, 2), "relayRuns": runs,
            "eventsPerSecond": rate, "redisPublish1": base1, "redisPublish50": base50, "ratio1": rate / base1,
            "ratio50": rate / base50, "goalMet": met, "goal": ">= 5,000 events/s, nothing left or failed"}


if __name__ == "__main__":
    a = parser(__doc__.splitlines()[0]).parse_args()
    sys.exit(run_main("outbox_relay", a, body))
