"""Benchmark — approvals while Redis is dead (docs/operations.md, docs/benchmarks.md).

Scenario: N approvals (default 300) at R/s (default 10) against the Procfile's `web` (gunicorn),
`worker` and `relay` processes, all on a private redis-server (port BENCH_PORT_BASE+30..) that
is killed OUTAGE seconds (default 20) after the start and then started again.
Reported: approvals answered per status, throughput (answered / wall time of the run), latency
p50/p99/max, search updates missing and notifications not sent GRACE seconds (default 60) after
the last approval, and the delay of the notifications (sent_at - approved_at).
Run: .venv/bin/python bench/faults_redis.py [--smoke] [--json out.json]
"""
from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Proc, close_django_connections, create_bench_db, django_setup, drop_bench_db, free_port, log_dir, make_token, parser, pct,
    procfile_command, run_main, server_env, wait_http_ok, wait_port,
)


def approve(base: str, token: str, listing_id: int) -> tuple[int, float]:
    started = time.monotonic()
    req = urllib.request.Request(f"{base}/api/listings/{listing_id}/approve", data=b'{"reason": "ok"}',
                                 method="POST", headers={"Content-Type": "application/json",
                                                         "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0
    return status, time.monotonic() - started


def body(args) -> dict:
    n, rate, outage, grace = (30, 10, 3, 30) if args.smoke else (args.n, args.rate, args.outage, args.grace)
    db_url = create_bench_db("faults")
    logs = log_dir("faults_redis")
    redis_port, web_port = free_port(30), free_port(31)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_cmd = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(redis_port), "--bind",
                 "127.0.0.1", "--save", "", "--appendonly", "no"]
    procs: list[Proc] = []
    try:
        django_setup(db_url, REDIS_URL=redis_url)
        from accounts.models import Role, User
        from listings.models import Listing, ListingStatus, SearchDocument
        from notifications.models import Notification, NotificationStatus

        seller = User.objects.create(username="bench-seller", email="seller@example.com", role=Role.USER)
        moderator = User.objects.create(username="bench-moderator", role=Role.MODERATOR, is_staff=True)
        ids = [Listing.objects.create(owner=seller, title=f"Bench {i}", description="d", category="misc",
                                      price="10.00").pk for i in range(n)]
        redis = Proc(redis_cmd, log=logs / "redis1.log")
        wait_port(redis_port, proc=redis)
        env = server_env(db_url, REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, WEB_CONCURRENCY="5",
                         PORT=str(web_port), LOG_LEVEL="INFO")
        procs += [Proc(procfile_command("web"), env=env, log=logs / "web.log", shell=True),
                  Proc(procfile_command("worker"), env=env, log=logs / "worker.log", shell=True)]
        try:
            procs.append(Proc(procfile_command("relay"), env=env, log=logs / "relay.log", shell=True))
        except KeyError:  # the code before the relay loop: beat's one-minute relay only
            procs.append(Proc(procfile_command("beat"), env=env, log=logs / "beat.log", shell=True))
        wait_http_ok(f"http://127.0.0.1:{web_port}/healthz", timeout=300, proc=procs[0])
        time.sleep(5)  # worker and relay up
        token = make_token(moderator.pk, "moderator")
        base = f"http://127.0.0.1:{web_port}"
        results: list[tuple[int, float]] = []
        lock = threading.Lock()
        start = time.monotonic()

        def one(listing_id: int) -> None:
            r = approve(base, token, listing_id)
            with lock:
                results.append(r)

        down_at, up_at = 5.0, 5.0 + outage
        redis_down = killed = False
        with ThreadPoolExecutor(max_workers=256) as pool:
            for i, listing_id in enumerate(ids):
                while time.monotonic() < start + i / rate:
                    now = time.monotonic() - start
                    if not killed and now >= down_at:
                        redis.stop(signal.SIGKILL)
                        redis_down = killed = True
                    elif redis_down and now >= up_at:
                        redis = Proc(redis_cmd, log=logs / "redis2.log")
                        redis_down = False
                        up_at = float("inf")
                    time.sleep(0.01)
                pool.submit(one, listing_id)
            if not killed:  # fewer approvals than the outage needs: kill and restart after them
                redis.stop(signal.SIGKILL)
                redis_down = True
            if redis_down:
                time.sleep(max(0.0, start + up_at - time.monotonic()))
                redis = Proc(redis_cmd, log=logs / "redis2.log")
        wall = time.monotonic() - start
        time.sleep(grace)
        latencies = [s for _, s in results]
        statuses: dict[str, int] = {}
        for status, _ in results:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        approved = Listing.objects.filter(pk__in=ids, status=ListingStatus.APPROVED)
        missing = approved.count() - SearchDocument.objects.filter(listing_id__in=ids).count()
        sent = Notification.objects.filter(user=seller, status=NotificationStatus.SENT)
        delays = [(s - a).total_seconds() for s, a in
                  sent.values_list("sent_at", "created_at")]
        result = {
            "approvals": n, "ratePerSecond": rate, "redisDeadSeconds": outage, "statuses": statuses,
            "answeredPerSecond": round(len(results) / wall, 2), "approved": approved.count(),
            "latencyP50Ms": round(pct(latencies, 50) * 1000), "latencyP99Ms": round(pct(latencies, 99) * 1000),
            "latencyMaxMs": round(max(latencies) * 1000),
            f"searchMissingAfter{grace}s": missing,
            f"notificationsNotSentAfter{grace}s": Notification.objects.filter(user=seller).exclude(
                status=NotificationStatus.SENT).count(),
            "notificationDelayP50S": round(pct(delays, 50), 1) if delays else None,
            "notificationDelayMaxS": round(max(delays), 1) if delays else None,
        }
        print(json.dumps(result, indent=1))
        return result
    finally:
        for proc in procs:
            proc.stop()
        if "redis" in locals():
            redis.stop(signal.SIGKILL)
        close_django_connections()
        drop_bench_db(db_url)


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--rate", type=float, default=10)
    p.add_argument("--outage", type=float, default=20)
    p.add_argument("--grace", type=float, default=60)
    args = p.parse_args()
    sys.exit(run_main("faults_redis", args, body))
