"""Benchmark 3 — connection capacity: 10,000 idle authenticated sockets on one ws process.

10,000 users, one socket each (Authorization: Bearer, the server answers `ready` once the socket
is in its groups), opened 1,000 at a time by bench/clients/ws_clients.js (50 handshakes in
flight). Reports the server's RSS before and after each 1,000, memory per 1,000 connections
(anchor: ~30 KB per connection published by Centrifugo, i.e. ~29 MB per 1,000), the connect
rate (sockets ready per second), and whether all sockets are still open after an idle pause.
Measured on the Procfile's ws line and on the other allowed server (daphne / uvicorn+uvloop).
`ulimit -n` is raised to 20,000 for the servers and the client.
Run: .venv/bin/python bench/idle_sockets.py [--smoke] [--json out.json]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Proc, ProcStats, bench_database, close_django_connections, free_port, log_dir, make_token, npm_install, parser,
    procfile_command, pyspy_start, pyspy_top, raise_nofile, run_main, server_env, server_program, wait_port,
)
from wsdriver import WsClients  # noqa: E402

WS_PORT = free_port(30)
CENTRIFUGO_KB = 30
DAPHNE = f"daphne -b 127.0.0.1 -p {WS_PORT} dgt.asgi:application"
UVICORN = (f"uvicorn dgt.asgi:application --host 127.0.0.1 --port {WS_PORT} --loop uvloop --http httptools "
           "--lifespan off")


def make_users(n: int) -> list[dict]:
    from accounts.models import User

    User.objects.bulk_create([User(username=f"idle{i:05d}", password="!") for i in range(n)], batch_size=5000)
    return [{"id": uid, "role": "user", "token": make_token(uid, "user")}
            for uid in User.objects.order_by("id").values_list("id", flat=True)]


def measure(name: str, cmd: str, *, db_url: str, users_file: Path, total: int, step: int, idle: float,
            workdir: Path, profile: bool = False) -> dict:
    print(f"--- {name}: {cmd}", flush=True)
    wd = workdir / name.split()[0]
    wd.mkdir(parents=True, exist_ok=True)
    server = Proc(cmd, env=server_env(db_url), log=wd / "server.log", shell=True)
    clients = None
    try:
        wait_port(WS_PORT, proc=server)
        time.sleep(2)
        stats = ProcStats(server.pid)
        rss0 = stats.rss_mb()
        clients = WsClients(mode="dgt", url=f"ws://127.0.0.1:{WS_PORT}/ws/events/", users_file=users_file,
                            workdir=wd, concurrency=50)
        steps, connect_s, cpu0 = [], 0.0, stats.cpu_seconds()
        spy = pyspy_start(server.pid, wd / "connect.collapsed", 20) if profile else None
        for _ in range(total // step):
            open_, failed, secs = clients.connect(step)
            connect_s += secs
            steps.append({"open": open_, "failed": failed, "seconds": secs, "rssMb": round(stats.rss_mb(), 1)})
            print(f"    {open_:6d} open, {failed} failed, +{step} in {secs:.1f} s, RSS {steps[-1]['rssMb']:.0f} MB",
                  flush=True)
            if failed:
                break
        cpu = stats.cpu_seconds() - cpu0
        top = []
        if spy:
            spy.p.wait(timeout=60)
            top = pyspy_top(wd / "connect.collapsed", 300)
        time.sleep(idle)
        after_idle = clients.dump("idle.json")
        rss_end = stats.rss_mb()
    finally:
        if clients:
            clients.close()
        server.stop()
    opened = steps[-1]["open"] if steps else 0
    per_1000 = (rss_end - rss0) / (opened / 1000) if opened else None
    return {"name": name, "server": cmd, "sockets": opened, "failed": sum(s["failed"] for s in steps),
            "rssStartMb": round(rss0, 1), "rssEndMb": round(rss_end, 1),
            "mbPer1000": round(per_1000, 1) if per_1000 else None,
            "kbPerConnection": round(per_1000 * 1024 / 1000, 1) if per_1000 else None,
            "vsCentrifugo": round(per_1000 * 1024 / 1000 / CENTRIFUGO_KB, 2) if per_1000 else None,
            "connectPerSecond": round(opened / connect_s, 1) if connect_s else None,
            "connectCpuSeconds": round(cpu, 1), "openAfterIdle": after_idle["open"],
            "closedAfterReady": after_idle["closedAfterReady"], "steps": steps, "idleSeconds": idle,
            "profileTop": top}


def body(args) -> dict:
    total, step, idle = (200, 100, 1.0) if args.smoke else (args.sockets, max(1, args.sockets // 10), 10.0)
    nofile = raise_nofile(20000)
    npm_install()
    workdir = log_dir("idle_sockets")
    with bench_database("idle", keep=args.keep_db) as db_url:
        users = make_users(total)
        close_django_connections()
        users_file = workdir / "users.json"
        users_file.write_text(json.dumps(users))
        pf = procfile_command("ws").replace("0.0.0.0", "127.0.0.1").replace("${WS_PORT:-8001}", str(WS_PORT))
        runs = [measure("Procfile ws", pf, db_url=db_url, users_file=users_file, total=total, step=step, idle=idle,
                        workdir=workdir, profile=args.profile)]
        other = UVICORN if server_program(pf) == "daphne" else DAPHNE
        if not args.smoke and not args.procfile_only:
            runs.append(measure(f"{other.split()[0]} (alternative)", other, db_url=db_url, users_file=users_file,
                                total=total, step=step, idle=idle, workdir=workdir))
    for r in runs:
        print(f"    {r['name']}: {r['sockets']} sockets, {r['mbPer1000']} MB per 1,000 ({r['kbPerConnection']} KB each, "
              f"{r['vsCentrifugo']} x Centrifugo's 30 KB), {r['connectPerSecond']} connects/s, "
              f"{r['openAfterIdle']} open after {idle:.0f} s idle")
    return {"target": total, "nofile": nofile, "runs": runs}


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--profile", action="store_true", help="py-spy the server during its first 20 s of connects")
    p.add_argument("--sockets", type=int, default=10000, help="sockets to open (full run)")
    p.add_argument("--procfile-only", action="store_true", help="measure the Procfile ws line only")
    a = p.parse_args()
    sys.exit(run_main("idle_sockets", a, body))
