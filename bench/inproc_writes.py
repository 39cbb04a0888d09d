"""CPU per request of the two API writes in process: approve and refund through the full Django stack.

The requests go through Django's test client (every middleware, JWT authentication, DRF, the
renderer) in ONE process, services mode, DEBUG off, with the Procfile `web` line's settings
(OUTBOX_SEND_AFTER_COMMIT=0, a psycopg pool), against a bench database of its own. One client, no
concurrency: CPU per request (`time.process_time`) is stable on a shared machine where req/s is not
(docs/benchmarks.md). Wall time per request is reported too (it includes waiting on PostgreSQL).

* approve: `POST /api/listings/{id}/approve` {expiryDays: 30} by a moderator, a fresh pending listing each;
* refund: `POST /api/wallet/refund` {userId, amount 1.00, reason, refId} + a fresh Idempotency-Key,
  a wallet among 1,000 in turn (as bench/api_writes.py).

A/B of two checkouts in the same minutes: bench/inproc_ab.py (alternates their rounds).
Options: `--requests N` per round (after `--warmup`), `--rounds R` (the figure is the median
round), `--only approve,refund`, `--profile` (cProfile of one round, top functions by own and
cumulative time), `--queries` (prints the SQL of one request of each).
Run: BENCH_REDIS_URL=redis://127.0.0.1:6379/<your db> .venv/bin/python bench/inproc_writes.py
"""
from __future__ import annotations

import cProfile
import io
import itertools
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_database, make_token, parser, run_main  # noqa: E402

# The Procfile's `web` line (its defaults).
os.environ.setdefault("OUTBOX_SEND_AFTER_COMMIT", "0")
os.environ.setdefault("DB_POOL_MAX_SIZE", "4")


def setup(n_listings: int, *, no_email: bool = False) -> dict:
    from accounts.models import Role, User
    from listings.models import Listing
    from wallet.models import Wallet

    # Sellers with an email: the approval and the refund record a notification for them (channels
    # query, notification INSERT, its outbox row); bench/api_writes.py's users have none (--no-email).
    User.objects.bulk_create([User(username=f"seller{i:04d}", password="!",
                                   email="" if no_email else f"seller{i:04d}@example.com") for i in range(1000)],
                             batch_size=1000)
    mod = User.objects.create(username="bench-moderator", role=Role.MODERATOR, is_staff=True, password="!")
    admin = User.objects.create(username="bench-admin", role=Role.ADMIN, is_staff=True, password="!")
    owners = list(User.objects.filter(username__startswith="seller").order_by("id").values_list("id", flat=True))
    Listing.objects.bulk_create(
        [Listing(owner_id=owners[i % len(owners)], title=f"bench listing {i}", description="bench", category="misc",
                 price="100.00") for i in range(n_listings)], batch_size=5000)
    Wallet.objects.bulk_create([Wallet(user_id=u) for u in owners], ignore_conflicts=True)
    return {"moderator": make_token(mod.pk, mod.role), "admin": make_token(admin.pk, admin.role), "owners": owners,
            "listings": list(Listing.objects.order_by("id").values_list("id", flat=True))}


def requesters(data: dict):
    from django.test import Client

    client = Client(SERVER_NAME="127.0.0.1", raise_request_exception=True)
    listings = iter(data["listings"])
    owners = itertools.cycle(data["owners"])

    def approve():
        r = client.post(f"/api/listings/{next(listings)}/approve", b'{"expiryDays": 30}',
                        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {data['moderator']}")
        assert r.status_code == 200, r.content

    def refund():
        body = json.dumps({"userId": next(owners), "amount": "1.00", "reason": "bench", "refId": "bench-goodwill"})
        r = client.post("/api/wallet/refund", body, content_type="application/json",
                        HTTP_AUTHORIZATION=f"Bearer {data['admin']}", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
        assert r.status_code == 201, r.content

    return {"approve": approve, "refund": refund}


def measure(fn, n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call over `n` calls."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        fn()
    return (time.process_time() - cpu0) * 1000 / n, (time.perf_counter() - wall0) * 1000 / n


def print_queries(name: str, fn) -> int:
    from django.db import connection

    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        fn()
    print(f"--- {name}: {len(seen)} statements through Django (BEGIN/COMMIT not counted)")
    for sql in seen:
        print("   ", sql[:160])
    return len(seen)


def body(args) -> dict:
    kinds = [k for k in (args.only or "approve,refund").split(",") if k]
    n, warmup, rounds = (20, 5, 1) if args.smoke else (args.requests, args.warmup, args.rounds)
    need = (n * rounds + warmup + 10) * (2 if args.profile else 1) + n
    result = {"requests": n, "rounds": rounds, "loadavgStart": os.getloadavg(), "endpoints": {}}
    with bench_database("inproc", keep=args.keep_db) as _db_url:
        data = setup(need, no_email=args.no_email)
        calls = requesters(data)
        for kind in kinds:
            fn = calls[kind]
            for _ in range(warmup):
                fn()
            if args.queries:
                result["endpoints"].setdefault(kind, {})["statements"] = print_queries(kind, fn)
        if args.serve:  # rounds on demand: a line "<endpoint>" on stdin -> "<cpu ms> <wall ms>" on stdout
            print("READY", flush=True)
            for line in sys.stdin:
                cpu, wall = measure(calls[line.strip()], n)
                print(f"{cpu:.3f} {wall:.3f}", flush=True)
            return result
        for _ in range(rounds):  # the endpoints interleaved, so both see the same moments of the machine
            for kind in kinds:
                cpu, wall = measure(calls[kind], n)
                r = result["endpoints"].setdefault(kind, {})
                r.setdefault("cpuMs", []).append(round(cpu, 3))
                r.setdefault("wallMs", []).append(round(wall, 3))
        for kind, r in result["endpoints"].items():
            r["cpuMsMedian"] = statistics.median(r["cpuMs"])
            r["wallMsMedian"] = statistics.median(r["wallMs"])
            print(f"{kind}: CPU {r['cpuMsMedian']:.2f} ms/request (rounds {r['cpuMs']}), wall {r['wallMsMedian']:.2f} ms")
        if args.profile:
            for kind in kinds:
                prof = cProfile.Profile(time.process_time)  # CPU time, not wall
                prof.enable()
                measure(calls[kind], n)
                prof.disable()
                for order in ("tottime", "cumulative"):
                    out = io.StringIO()
                    pstats.Stats(prof, stream=out).sort_stats(order).print_stats(args.profile_lines)
                    print(f"--- profile {kind} by {order} ({n} requests)\n{out.getvalue()}")
    result["loadavgEnd"] = os.getloadavg()
    print(f"load average: start {result['loadavgStart']}, end {result['loadavgEnd']}")
    return result


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=400, help="requests per round and endpoint")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", help="comma-separated among approve,refund")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--profile-lines", type=int, default=45)
    p.add_argument("--queries", action="store_true")
    p.add_argument("--serve", action="store_true",
                   help="after the warm-up, run one round per endpoint name read on stdin (bench/inproc_ab.py)")
    p.add_argument("--no-email", action="store_true", help="sellers without an email (nothing to notify)")
    sys.exit(run_main("inproc_writes", p.parse_args(), body))
