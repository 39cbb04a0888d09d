"""CPU per request of GET /api/wallet and GET /api/listings in process, through the whole WSGI stack.

The request goes through `dgt.wsgi.application` (middleware, URL resolver, DRF, rendering) exactly as
gunicorn hands it over, minus the socket: no test client, no server. Production settings in services
mode (DEBUG off, the web line's pool and OUTBOX_SEND_AFTER_COMMIT=0, rate limits on), against a fresh
bench database (bench/common.py). The same requests then go to the naive peer (bench/peers/naive/)
in a process of its own, on the same rows, for the ratio. CPU time is `time.process_time()` over N
requests after a warm-up: stable on a shared machine, unlike req/s (docs/benchmarks.md).
`--profile PATH` writes a cProfile of the measured requests.
Run (a Redis database of your own: the bench's is flushed):
BENCH_REDIS_URL=redis://127.0.0.1:6379/N .venv/bin/python bench/api_reads_inprocess.py [-n 3000] [--only wallet] [--profile out.prof]
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, bench_database, make_token, server_env  # noqa: E402


def environ(path: str, query: str, token: str | None) -> dict:
    """A WSGI environ as gunicorn builds it for a keep-alive GET from the Node client."""
    env = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "HTTP_HOST": "127.0.0.1:8000",
           "HTTP_CONNECTION": "keep-alive", "HTTP_ACCEPT": "*/*", "wsgi.url_scheme": "http",
           "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
           "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False}
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env


def call(app, env: dict) -> tuple[str, bytes]:
    status = []
    body = b"".join(app(dict(env, **{"wsgi.input": io.BytesIO(b"")}),
                        lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body


def setup_reader() -> tuple[int, str]:
    """A user with a wallet and 40 listings (a full first page of 20); (user id, access token)."""
    from accounts.models import User
    from listings.models import Listing
    from wallet.models import Wallet

    reader = User.objects.create(username="reader", password="!")
    Wallet.objects.get_or_create(user_id=reader.pk)
    Listing.objects.bulk_create([Listing(owner_id=reader.pk, title=f"bench listing {i}", description="bench",
                                         category="misc", price="100.00") for i in range(40)])
    return reader.pk, make_token(reader.pk, reader.role)


def measure(app, env: dict, n: int, warmup: int, profile: str | None) -> dict:
    for _ in range(warmup):
        status, body = call(app, env)
        assert status.startswith("200"), (status, body[:300])
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)  # CPU, not wall: waits on the database are not cost
        prof.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        call(app, env)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    return {"cpuMsPerRequest": round(1000 * cpu / n, 3), "wallMsPerRequest": round(1000 * wall / n, 3),
            "bytes": len(body)}


def naive_child(db_url: str, user_id: int, kinds: list[str], n: int, warmup: int) -> None:
    """In this (child) process: the naive peer's WSGI app on the same database and rows."""
    os.environ.update(server_env(db_url, DJANGO_SETTINGS_MODULE="naive.settings"))
    sys.path.insert(0, str(BENCH / "peers" / "naive"))
    from naive.wsgi import application as app

    for kind in kinds:
        r = measure(app, environ(PATHS[kind], f"user={user_id}", None), n, warmup, None)
        print(f"naive {kind}: {r}", flush=True)


PATHS = {"wallet": "/api/wallet", "listings": "/api/listings"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=3000, help="measured requests per endpoint")
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--only", default="wallet,listings")
    p.add_argument("--no-peer", action="store_true", help="dgt only")
    p.add_argument("--profile", help="cProfile output path prefix (dgt; endpoint name appended)")
    p.add_argument("--naive-child", nargs=2, metavar=("DB_URL", "USER_ID"), help=argparse.SUPPRESS)
    args = p.parse_args()
    kinds = args.only.split(",")
    if args.naive_child:
        naive_child(args.naive_child[0], int(args.naive_child[1]), kinds, args.n, args.warmup)
        return
    # The web line's settings (Procfile): a psycopg pool, no after-commit work in the request.
    os.environ.update(DB_POOL_MAX_SIZE="4", OUTBOX_SEND_AFTER_COMMIT="0")
    with bench_database("inproc") as db_url:
        user_id, token = setup_reader()
        from django.db import connections

        connections.close_all()
        from dgt.wsgi import application as app

        print(f"load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
        for kind in kinds:
            r = measure(app, environ(PATHS[kind], "", token), args.n, args.warmup,
                        args.profile and f"{args.profile}.{kind}")
            print(f"dgt {kind}: {r}", flush=True)
        connections.close_all()
        if not args.no_peer:
            subprocess.run([sys.executable, __file__, "--only", args.only, "-n", str(args.n), "--warmup",
                            str(args.warmup), "--naive-child", db_url, str(user_id)], check=True)
        print(f"load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)


if __name__ == "__main__":
    main()
