"""Benchmark 1 — API writes next to PostgreSQL's own limit (pgbench TPC-B).

* Baseline: `pgbench` TPC-B (built-in script), scale 16, 16 clients, D seconds, on the same
  PostgreSQL (its own dgt_bench database).
* approve: `POST /api/listings/{id}/approve` over a pool of pending listings.
* refund: `POST /api/wallet/refund` {userId, amount, reason, refId} with a fresh Idempotency-Key
  each, a random wallet among 1,000 (a refId with no charge: a goodwill credit of 1.00).
Both with 16 concurrent keep-alive clients (bench/clients/http_load.js), app served by the
Procfile's `web` line (gunicorn, its worker count), D seconds after a warm-up.
Goal (issue 7): each endpoint >= 0.30 of pgbench's TPS with p99 <= 50 ms.
Run: .venv/bin/python bench/api_writes.py [--smoke] [--profile] [--json out.json]
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
    BENCH, PORT_BASE, ROOT, NotAvailable, Proc, ProcStats, close_django_connections, create_bench_db, django_setup,
    drop_bench_db, flush_bench_redis, fmt, log_dir, make_token, node_env, npm_install, parser, procfile_command,
    pyspy_self_top, pyspy_start, pyspy_top, run_main, server_env, wait_http_ok,
)

WEB_PORT = PORT_BASE + 20
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


def setup_approve(n_listings: int) -> dict:
    from accounts.models import Role, User
    from listings.models import Listing

    User.objects.bulk_create([User(username=f"seller{i:04d}", password="!") for i in range(1000)], batch_size=1000)
    mod = User.objects.create(username="bench-moderator", role=Role.MODERATOR, is_staff=True, password="!")
    owners = list(User.objects.filter(role=Role.USER).values_list("id", flat=True))
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
    try:  # create the wallets up front when the model allows it; otherwise the first refund does
        from wallet.models import Wallet

        Wallet.objects.bulk_create([Wallet(user_id=u) for u in user_ids], ignore_conflicts=True)
    except Exception as e:  # noqa: BLE001 — a different wallet model: refunds create wallets themselves
        print(f"    (wallets not pre-created: {type(e).__name__}: {e})")
    return {"token": make_token(admin.pk, admin.role), "userIds": user_ids}


def run_endpoint(kind: str, *, db_url: str, cfg: dict, workdir: Path, profile: bool) -> dict:
    web_cmd = procfile_command("web").replace("0.0.0.0", "127.0.0.1").replace("${PORT:-8000}", str(WEB_PORT))
    web = Proc(web_cmd, env=server_env(db_url), log=workdir / f"{kind}-web.log", shell=True)
    try:
        wait_http_ok(f"http://127.0.0.1:{WEB_PORT}/healthz", proc=web)
        stats = ProcStats(web.pid)
        cpu0 = stats.cpu_seconds()
        spy = None
        if profile:
            spy = pyspy_start(web.pid, workdir / f"{kind}.collapsed", cfg["warmupSeconds"] + cfg["durationSeconds"])
        r = http_load(kind, cfg | {"kind": kind, "port": WEB_PORT, "concurrency": CLIENTS}, workdir)
        r["serverCpuSeconds"] = round(stats.cpu_seconds() - cpu0, 1)
        r["server"] = web_cmd
        if spy:
            spy.p.wait(timeout=60)
            r["profileTop"] = pyspy_top(workdir / f"{kind}.collapsed", 300)
            r["profileSelf"] = pyspy_self_top(workdir / f"{kind}.collapsed")
    finally:
        web.stop()
    return r


def body(args) -> dict:
    duration, warmup, scale = (2, 1, 1) if args.smoke else (30, 5, 16)
    npm_install()
    workdir = log_dir("api_writes")
    print(f"--- pgbench TPC-B scale {scale}, {CLIENTS} clients, {duration} s", flush=True)
    base = pgbench(duration, scale)
    print(f"    {base['tps']:.0f} tps, latency avg {fmt(base['latencyAvgMs'])} ms", flush=True)
    result = {"pgbench": base, "endpoints": {}}
    db_url = create_bench_db("api")
    try:
        flush_bench_redis()
        django_setup(db_url)
        approve = setup_approve(600 if args.smoke else 30000)
        try:
            refund = setup_refund()
        except NotAvailable as e:
            refund = e
        close_django_connections()
        common_cfg = {"warmupSeconds": warmup, "durationSeconds": duration}
        print("--- approve", flush=True)
        result["endpoints"]["approve"] = run_endpoint("approve", db_url=db_url, cfg=common_cfg | approve,
                                                      workdir=workdir, profile=args.profile)
        print("--- refund", flush=True)
        if isinstance(refund, NotAvailable):
            print(f"    not available in this build: {refund}")
            result["endpoints"]["refund"] = {"status": "not available", "reason": str(refund)}
        else:
            result["endpoints"]["refund"] = run_endpoint("refund", db_url=db_url, cfg=common_cfg | refund,
                                                         workdir=workdir, profile=args.profile)
    finally:
        close_django_connections()
        flush_bench_redis()
        if not args.keep_db:
            drop_bench_db(db_url)
    for name, r in result["endpoints"].items():
        if "okRps" not in r:
            continue
        r["ratio"] = r["okRps"] / base["tps"]
        r["goalMet"] = r["ratio"] >= 0.30 and r["p99"] is not None and r["p99"] <= 50 and r["errors"] == 0
        print(f"    {name}: {r['okRps']:.0f} req/s = {r['ratio']:.2f} x pgbench; p50 {fmt(r['p50'])} ms p99 "
              f"{fmt(r['p99'])} ms; errors {r['errors']} {r['statuses']}; goal {'met' if r['goalMet'] else 'NOT met'}")
    result["goal"] = ">= 0.30 x pgbench TPS and p99 <= 50 ms, no errors"
    return result


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--profile", action="store_true", help="py-spy the gunicorn workers during the run")
    a = p.parse_args()
    sys.exit(run_main("api_writes", a, body))
