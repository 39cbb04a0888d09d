"""CPU per request of GET /api/wallet and GET /api/listings in process, through the whole WSGI stack.

The request goes through `dgt.wsgi.application` (middleware, URL resolver, DRF, rendering) exactly as
gunicorn hands it over, minus the socket: no test client, no server. Production settings in services
mode (DEBUG off, the web line's pool and OUTBOX_SEND_AFTER_COMMIT=0, rate limits on), against a bench
database of its own (bench/common.py) holding one reader with a wallet and 40 listings. The naive
peer (bench/peers/naive/) answers the same requests on the same rows in a process of its own.

On a shared machine the CPU a request costs moves by 2 x from one minute to the next, so the
processes measured side by side (the naive peer, this checkout and, with `--tree DIR`, other
checkouts of dgt: e.g. `git worktree add /tmp/base main`) each serve short rounds in turn, and the
median of the rounds is reported: every process sees the same moments of the machine; each round
starts with the next process, and the ratios are medians of the per-round ratios.
CPU time is `time.process_time()` of the serving process. `--profile PATH` writes a cProfile
(CPU clock) of this checkout's measured requests.
Run (a Redis database of your own: the bench's is flushed):
BENCH_REDIS_URL=redis://127.0.0.1:6379/N .venv/bin/python bench/api_reads_inprocess.py [--tree DIR] [--rounds 8] [-n 500]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, ROOT, bench_database, make_token, server_env  # noqa: E402

PATHS = {"wallet": "/api/wallet", "listings": "/api/listings"}


def environ(path: str, query: str, token: str | None) -> dict:
    """A WSGI environ as gunicorn builds it for a keep-alive GET from the Node client."""
    env = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "HTTP_HOST": "127.0.0.1:8000",
           "HTTP_CONNECTION": "keep-alive", "HTTP_ACCEPT": "*/*", "wsgi.url_scheme": "http",
           "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
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


def serve(app, envs: dict[str, dict], profile: str | None) -> None:
    """Answer `<kind> <n>` lines on stdin with `<cpu ms per request> <wall ms per request> <bytes>`."""
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)  # CPU, not wall: waits on the database are not cost
    for kind, env in envs.items():  # warm-up: first-request imports, compiled queries, pools
        for _ in range(200):
            status, body = call(app, env)
            assert status.startswith("200"), (kind, status, body[:300])
    print("ready", flush=True)
    for line in sys.stdin:
        kind, n = line.split()
        env, n = envs[kind], int(n)
        if prof:
            prof.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            status, body = call(app, env)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if prof:
            prof.disable()
        print(f"{1000 * cpu / n:.4f} {1000 * wall / n:.4f} {len(body)}", flush=True)
    if prof:
        prof.dump_stats(profile)


def serve_dgt(args) -> None:
    # The web line's settings (Procfile): a psycopg pool, no after-commit work in the request.
    os.environ.update(DB_POOL_MAX_SIZE="4", OUTBOX_SEND_AFTER_COMMIT="0")
    with bench_database(f"inproc{args.index}") as db_url:
        user_id, token = setup_reader()
        from django.db import connections

        connections.close_all()
        print(f"db {db_url} {user_id}", flush=True)
        from dgt.wsgi import application as app

        serve(app, {kind: environ(PATHS[kind], "", token) for kind in args.only.split(",")}, args.profile)


def serve_naive(args) -> None:
    db_url, user_id = args.naive
    os.environ.update(server_env(db_url, DJANGO_SETTINGS_MODULE="naive.settings"))
    sys.path.insert(0, str(BENCH / "peers" / "naive"))
    from naive.wsgi import application as app

    serve(app, {kind: environ(PATHS[kind], f"user={user_id}", None) for kind in args.only.split(",")}, None)


class Server:
    def __init__(self, name: str, cmd: list[str], cwd: Path):
        self.name = name
        self.p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.db = None
        for line in self.p.stdout:
            if line.startswith("db "):
                self.db = line.split()[1:]
            if line.startswith("ready"):
                break
        else:
            raise RuntimeError(f"{name} exited before it was ready")

    def run(self, kind: str, n: int) -> list[float]:
        self.p.stdin.write(f"{kind} {n}\n")
        self.p.stdin.flush()
        return [float(x) for x in self.p.stdout.readline().split()]

    def stop(self) -> None:
        self.p.stdin.close()
        self.p.wait(timeout=120)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=500, help="requests per round")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--only", default="wallet,listings")
    p.add_argument("--tree", action="append", default=[], help="another dgt checkout to measure alongside")
    p.add_argument("--no-peer", action="store_true", help="without the naive peer")
    p.add_argument("--profile", help="cProfile output path (this checkout)")
    p.add_argument("--serve-dgt", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--naive", nargs=2, metavar=("DB_URL", "USER_ID"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_dgt:
        return serve_dgt(args)
    if args.naive:
        return serve_naive(args)
    kinds = args.only.split(",")
    me = [sys.executable, str(Path(__file__).resolve()), "--only", args.only]
    servers: list[Server] = []
    try:
        for i, tree in enumerate([str(ROOT), *args.tree]):
            # Each checkout runs this script from its own tree (its code, its settings).
            cmd = [str(Path(tree) / ".venv" / "bin" / "python"), str(Path(tree) / "bench" / Path(__file__).name),
                   "--only", args.only, "--serve-dgt", "--index", str(i)]
            if i == 0 and args.profile:
                cmd += ["--profile", args.profile]
            if Path(tree) != ROOT:
                (Path(tree) / "bench" / Path(__file__).name).write_bytes(Path(__file__).read_bytes())
            servers.append(Server(tree, cmd, Path(tree)))
        if not args.no_peer:
            servers.append(Server("naive", [*me, "--naive", *servers[0].db], ROOT))
        print(f"load at start {loadavg()}", flush=True)
        results = {(s.name, k): [] for s in servers for k in kinds}
        for i in range(args.rounds):
            for kind in kinds:
                # Each round starts with the next process, so none always runs right after another.
                for s in servers[i % len(servers):] + servers[:i % len(servers)]:
                    results[(s.name, kind)].append(s.run(kind, args.n))
        print(f"load at end {loadavg()}; {args.rounds} rounds of {args.n} requests, medians (of the "
              f"rounds; the ratios: median of the per-round ratios):", flush=True)
        for kind in kinds:
            naive = [r[0] for r in results[("naive", kind)]] if not args.no_peer else None
            first = [r[0] for r in results[(servers[0].name, kind)]]
            for s in servers:
                rows = results[(s.name, kind)]
                cpu = [r[0] for r in rows]
                ratio = f", {statistics.median(n / c for n, c in zip(naive, cpu)):.2f} x naive" \
                    if naive and s.name != "naive" else ""
                if s is not servers[0] and s.name != "naive":
                    ratio += f", {statistics.median(c / f for c, f in zip(cpu, first)):.2f} x the first's CPU"
                print(f"  {kind:8} {s.name:40} CPU {statistics.median(cpu):.3f} ms/req (rounds {min(cpu):.3f}-"
                      f"{max(cpu):.3f}), wall {statistics.median(r[1] for r in rows):.3f} ms, "
                      f"{int(rows[-1][2])} bytes{ratio}", flush=True)
    finally:
        for s in reversed(servers):  # the naive peer first: it uses the first checkout's database
            s.stop()


if __name__ == "__main__":
    main()
