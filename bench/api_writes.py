"""Benchmark 1 — API writes and hot reads next to PostgreSQL's own limit and a naive Django peer.

* Baselines, same run, same PostgreSQL:
  - `pgbench` TPC-B (built-in script), scale 16, 16 clients, D seconds (its own dgt_bench database);
  - the naive peer (bench/peers/naive/): plain Django views making the same row changes (no DRF, no
    auth, no middleware), served by the Procfile's `web` gunicorn line with the same worker count,
    against the same bench database.
* approve: `POST /api/listings/{id}/approve` over a pool of pending listings (each server its own half).
* refund: `POST /api/wallet/refund` {userId, amount, reason, refId} with a fresh Idempotency-Key
  each, a random wallet among 1,000 (a refId with no charge: a goodwill credit of 1.00).
* wallet: `GET /api/wallet`; listings: `GET /api/listings` (the owner's first page of 20).
All with 16 concurrent keep-alive clients (bench/clients/http_load.js), D seconds after a warm-up; for
each endpoint the naive peer runs first, then dgt, so both see the same moment of a shared machine.
dgt runs as deployed: its `web` line plus the Procfile's `relay` line, started for each dgt window
(the peer's rows, which nobody sends, are marked sent first so the relay never works for the peer)
and reported apart (`relayCpuMsPerRequest`): work a request leaves to the relay is still counted.
Goals: approve and refund >= 0.5 x the naive peer with p99 <= 50 ms; the reads >= 0.7 x the naive peer.
Run: .venv/bin/python bench/api_writes.py [--smoke] [--profile] [--duration S] [--only approve,wallet] [--json out.json]
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH, NotAvailable, Proc, ProcStats, bench_database, close_django_connections, create_bench_db, drop_bench_db,
    fmt, free_port, log_dir, make_token, node_env, npm_install, parser, procfile_command, pyspy_self_top, pyspy_start,
    pyspy_top, run_main, server_env, wait_http_ok,
)

WEB_PORT = free_port(20)
CLIENTS = 16


def pgbench(duration: int, scale: int) -> dict:
    url = create_bench_db("pgbench")
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), url], check=True, capture_output=True, timeout=600)
        out = subprocess.run(["pgbench", "-n", "-c", str(CLIENTS), "-j", "2", "-T", str(duration), url], check=True,
                             capture_output=True, text=True, timeout=duration + 120).stdout
    finally:
        drop_bench_db(url)
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    return {"tps": tps, "latencyAvgMs": float(lat.group(1)) if lat else None, "scale": scale, "clients": CLIENTS,
            "seconds": duration, "command": f"pgbench -n -c {CLIENTS} -j 2 -T {duration} (after pgbench -i -s {scale})"}


def http_load(name: str, cfg: dict, workdir: Path) -> dict:
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(cfg))
    out = subprocess.run(["node", str(BENCH / "clients" / "http_load.js"), str(path)], env=node_env(), check=True,
                         capture_output=True, text=True, timeout=cfg["warmupSeconds"] + cfg["durationSeconds"] + 120)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["okRps"] = (r["requests"] - r["errors"]) / r["seconds"] if r["seconds"] else 0
    return r


GOALS = {"approve": 0.5, "refund": 0.5, "wallet": 0.7, "listings": 0.7}  # x the naive peer's req/s
P99_GOAL_MS = 50  # writes only
NAIVE_DIR = BENCH / "peers" / "naive"
NAIVE_PORT = free_port(30)


def setup_approve(n_listings: int) -> dict:
    from accounts.models import Role, User
    from listings.models import Listing

    User.objects.bulk_create([User(username=f"seller{i:04d}", password="!") for i in range(1000)], batch_size=1000)
    mod = User.objects.create(username="bench-moderator", role=Role.MODERATOR, is_staff=True, password="!")
    owners = list(User.objects.filter(role=Role.USER).order_by("id").values_list("id", flat=True))
    Listing.objects.bulk_create(
        [Listing(owner_id=owners[i % len(owners)], title=f"bench listing {i}", description="bench", category="misc",
                 price="100.00") for i in range(n_listings)], batch_size=5000)
    ids = list(Listing.objects.filter(status="pending").order_by("id").values_list("id", flat=True))
    return {"token": make_token(mod.pk, mod.role), "listingIds": ids}


def setup_refund() -> dict:
    """1,000 users with wallets and an admin; NotAvailable when the refund endpoint is missing."""
    from django.urls import Resolver404, resolve

    try:
        resolve("/api/wallet/refund")
    except Resolver404:
        raise NotAvailable("POST /api/wallet/refund is not routed (wallet refund endpoint, issue: wallet)") from None
    from accounts.models import Role, User

    admin = User.objects.create(username="bench-admin", role=Role.ADMIN, is_staff=True, password="!")
    User.objects.bulk_create([User(username=f"wallet{i:04d}", password="!") for i in range(1000)], batch_size=1000)
    user_ids = list(User.objects.filter(username__startswith="wallet").values_list("id", flat=True))
    from wallet.models import Wallet

    Wallet.objects.bulk_create([Wallet(user_id=u) for u in user_ids], ignore_conflicts=True)
    return {"token": make_token(admin.pk, admin.role), "userIds": user_ids}


def setup_reader() -> dict:
    """The reading user: seller0000, who owns listings of the approve pool, with a wallet."""
    from accounts.models import User
    from wallet.models import Wallet

    reader = User.objects.get(username="seller0000")
    Wallet.objects.get_or_create(user_id=reader.pk)
    return {"token": make_token(reader.pk, reader.role), "userId": reader.pk}


class Server:
    """dgt (the Procfile's web line) or the naive peer (the same gunicorn line, the peer's WSGI app)."""

    def __init__(self, name: str, *, db_url: str, workdir: Path):
        web_cmd = procfile_command("web").replace("0.0.0.0", "127.0.0.1")
        if name == "naive":
            port = NAIVE_PORT
            web_cmd = web_cmd.replace("dgt.wsgi:application", f"naive.wsgi:application --chdir {NAIVE_DIR}")
            env = server_env(db_url, DJANGO_SETTINGS_MODULE="naive.settings")
        else:
            port = WEB_PORT
            env = server_env(db_url)
        self.name, self.port = name, port
        self.cmd = web_cmd.replace("${PORT:-8000}", str(port))
        self.proc = Proc(self.cmd, env=env, log=workdir / f"{name}-web.log", shell=True)
        try:  # a loaded machine can take a minute or more to import and fork the workers
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc=self.proc, timeout=240)
        except BaseException:
            self.proc.stop()
            raise

        self.env, self.workdir, self.relay = env, workdir, None

    def relay_start(self, tag: str) -> None:
        """dgt only: start the Procfile's `relay` line (after marking the rows the peer left pending
        sent), and give it time to import Django before the window starts."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("UPDATE outbox_eventoutbox SET status = 'sent', sent_at = now() WHERE status = 'pending'")
        close_django_connections()
        self.relay = Proc(procfile_command("relay"), env=self.env, log=self.workdir / f"{tag}-relay.log", shell=True)
        time.sleep(6)
        if not self.relay.alive():
            raise RuntimeError(f"relay exited:\n{self.relay.log_tail()}")

    def relay_stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay = None

    def stop(self) -> None:
        self.relay_stop()
        self.proc.stop()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_one(server: Server, kind: str, *, cfg: dict, workdir: Path, profile: bool) -> dict:
    tag = f"{server.name}-{kind}"
    if server.name == "dgt":
        server.relay_start(tag)
    try:
        return _run_one(server, kind, tag=tag, cfg=cfg, workdir=workdir, profile=profile)
    finally:
        server.relay_stop()


def _run_one(server: Server, kind: str, *, tag: str, cfg: dict, workdir: Path, profile: bool) -> dict:
    stats = ProcStats(server.proc.pid)
    cpu0 = stats.cpu_seconds()
    relay_stats = ProcStats(server.relay.pid) if server.relay else None
    relay0 = relay_stats.cpu_seconds() if relay_stats else 0.0
    spy = None
    if profile:
        spy = pyspy_start(server.proc.pid, workdir / f"{tag}.collapsed", cfg["warmupSeconds"] + cfg["durationSeconds"])
    load_kind = "get" if kind in ("wallet", "listings") else kind
    r = http_load(tag, cfg | {"kind": load_kind, "port": server.port, "concurrency": CLIENTS}, workdir)
    r["serverCpuSeconds"] = round(stats.cpu_seconds() - cpu0, 1)
    r["cpuMsPerRequest"] = round(1000 * r["serverCpuSeconds"] / max(1, r["requests"]), 2)
    if relay_stats:
        r["relayCpuSeconds"] = round(relay_stats.cpu_seconds() - relay0, 2)
        r["relayCpuMsPerRequest"] = round(1000 * r["relayCpuSeconds"] / max(1, r["requests"]), 2)
    r["loadavg"] = loadavg()
    r["server"] = server.cmd
    if spy:
        try:  # py-spy writes its file when its duration ends; on a loaded machine that takes a while
            spy.p.wait(timeout=300)
        except subprocess.TimeoutExpired:
            spy.stop()
        r["profileTop"] = pyspy_top(workdir / f"{tag}.collapsed", 300)
        r["profileSelf"] = pyspy_self_top(workdir / f"{tag}.collapsed")
    return r


def endpoint_cfgs(kind: str, data: dict) -> tuple[dict, dict]:
    """(naive cfg, dgt cfg) for one endpoint."""
    if kind == "approve":
        ids = data["approve"]["listingIds"]
        return {"listingIds": ids[1::2]}, {"listingIds": ids[0::2], "token": data["approve"]["token"]}
    if kind == "refund":
        return {"userIds": data["refund"]["userIds"]}, dict(data["refund"])
    reader = data["reader"]
    path = "/api/wallet" if kind == "wallet" else "/api/listings"
    return {"path": f"{path}?user={reader['userId']}"}, {"path": path, "token": reader["token"]}


def body(args) -> dict:
    duration, warmup, scale = (3, 1, 1) if args.smoke else (args.duration, 5, 16)
    kinds = [k for k in (args.only or "approve,refund,wallet,listings").split(",") if k]
    npm_install()
    workdir = log_dir("api_writes")
    result = {"pgbench": None, "endpoints": {}, "loadavgStart": loadavg(), "clients": CLIENTS}
    print(f"--- pgbench TPC-B scale {scale}, {CLIENTS} clients, {duration} s (load {loadavg()})", flush=True)
    base = result["pgbench"] = pgbench(duration, scale)
    print(f"    {base['tps']:.0f} tps, latency avg {fmt(base['latencyAvgMs'])} ms", flush=True)
    servers: list[Server] = []
    with bench_database("api", keep=args.keep_db, stop=servers) as db_url:
        n_listings = 1200 if args.smoke else int(max(40000, 2 * 600 * (duration + warmup)))
        data = {"approve": setup_approve(n_listings), "refund": setup_refund(), "reader": setup_reader()}
        close_django_connections()
        common_cfg = {"warmupSeconds": warmup, "durationSeconds": duration}
        for name in ("naive", "dgt"):
            servers.append(Server(name, db_url=db_url, workdir=workdir))
        naive, dgt = servers
        for kind in kinds:
            ncfg, dcfg = endpoint_cfgs(kind, data)
            print(f"--- {kind} (load {loadavg()})", flush=True)
            n = run_one(naive, kind, cfg=common_cfg | ncfg, workdir=workdir, profile=False)
            d = run_one(dgt, kind, cfg=common_cfg | dcfg, workdir=workdir, profile=args.profile)
            d["naive"] = {k: n[k] for k in ("okRps", "p50", "p99", "errors", "statuses", "serverCpuSeconds",
                                             "cpuMsPerRequest", "loadavg")}
            result["endpoints"][kind] = d
    for name, r in result["endpoints"].items():
        r["ratio"] = r["okRps"] / base["tps"]
        r["ratioNaive"] = r["okRps"] / r["naive"]["okRps"] if r["naive"]["okRps"] else None
        write = name in ("approve", "refund")
        r["goal"] = f">= {GOALS[name]} x naive" + (f", p99 <= {P99_GOAL_MS} ms" if write else "")
        r["goalMet"] = (r["ratioNaive"] is not None and r["ratioNaive"] >= GOALS[name] and r["errors"] == 0
                        and (not write or (r["p99"] is not None and r["p99"] <= P99_GOAL_MS)))
        print(f"    {name}: dgt {r['okRps']:.0f} req/s p50 {fmt(r['p50'])} p99 {fmt(r['p99'])} ms "
              f"({r['cpuMsPerRequest']} ms CPU/req, relay {r.get('relayCpuMsPerRequest')}) | naive {r['naive']['okRps']:.0f} req/s p99 {fmt(r['naive']['p99'])} ms "
              f"({r['naive']['cpuMsPerRequest']} ms CPU/req) | {fmt(r['ratioNaive'], ' x naive', 2)}, "
              f"{r['ratio']:.2f} x pgbench; errors {r['errors']} {r['statuses']}; load {r['loadavg']}; "
              f"goal {r['goal']}: {'met' if r['goalMet'] else 'NOT met'}")
    result["goal"] = "approve, refund >= 0.5 x naive and p99 <= 50 ms; GET wallet, listings >= 0.7 x naive; no errors"
    result["goalMet"] = all(r["goalMet"] for r in result["endpoints"].values())
    return result


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--profile", action="store_true", help="py-spy the dgt gunicorn workers during the run")
    p.add_argument("--duration", type=int, default=30, help="measured seconds per endpoint and server")
    p.add_argument("--only", help="comma-separated endpoints among approve,refund,wallet,listings")
    a = p.parse_args()
    sys.exit(run_main("api_writes", a, body))
