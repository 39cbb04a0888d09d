"""Benchmark 2 — event latency: dgt's websocket fan-out next to the seed's Socket.IO stack.

1,000 websocket clients, each its own user, 100 of them admins; a publisher in a separate process
sends 200 events/s to random `user.<id>` groups and 1 event/s to `admin` for 30 s (after a 2 s
warm-up of the same traffic, counted for loss, not for latency). Reports the
delivered count (must equal sent), p50/p99/max latency from the publish call to client receipt,
and the server's CPU seconds and RSS. The same Node client machinery (bench/clients/ws_clients.js)
and the same event schedule drive every server:

* dgt's ws process under daphne (the skeleton's Procfile line) and under uvicorn + uvloop, both
  with the configured channel layer (RedisPubSubChannelLayer), events sent by a Python
  publisher doing exactly the channel-layer send of `outbox.services.send_rows`; every dgt
  server runs with the Procfile's `relay` process beside it, as deployed;
* the Socket.IO peer (bench/peers/socketio/server.js + @socket.io/redis-adapter, events from
  emitter.js through @socket.io/redis-emitter) on the same Redis;
* dgt's whole outbox path (publish in a transaction, commit, send after commit) on the Procfile's
  ws process;
* the full path: HTTP approve (the Procfile's web process) -> `listings.update` frame received,
  with the Procfile's relay process running as deployed (the web line leaves its events to it);
* dgt's Socket.IO endpoint (`/socket.io/` on the Procfile's ws process, realtime/socketio), driven
  by the same socket.io-client machinery as the peer (mode "dgtsio"), same publisher and schedule.
  Goal (Socket.IO endpoint): p99 <= 1.5 x the peer's, 0 lost.

Every run also reports the connect rate (sockets/s) and the server's memory per socket (RSS
after connecting minus RSS before, divided by the sockets).

Goal (docs/benchmarks.md, goal 2): dgt's p99 <= the peer's p99, zero lost events for dgt.
Run: .venv/bin/python bench/event_latency.py [--smoke] [--json out.json]
"""
from __future__ import annotations

import json
import os
import random
import re
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    CHANNEL_PREFIX, JWT_SECRET, NODE_DIR, PORT_BASE, REDIS_URL, ROOT, VENV_BIN, Proc, ProcStats, bench_database,
    close_django_connections, fmt, free_port, log_dir, make_token, node_env, npm_install, parser, procfile_command,
    pyspy_self_top, pyspy_start, pyspy_top, raise_nofile, run_main, server_env, server_program, summary, wait_http_ok,
    wait_port,
)
from wsdriver import WsClients  # noqa: E402

WS_PORT = free_port(10)
SIO_PORT = free_port(WS_PORT - PORT_BASE + 1)
WEB_PORT = free_port(SIO_PORT - PORT_BASE + 1)

DAPHNE = f"daphne -b 127.0.0.1 -p {WS_PORT} dgt.asgi:application"
UVICORN = (f"uvicorn dgt.asgi:application --host 127.0.0.1 --port {WS_PORT} --loop uvloop --http httptools "
           "--lifespan off")


def procfile_ws() -> str:
    return procfile_command("ws").replace("0.0.0.0", "127.0.0.1").replace("${WS_PORT:-8001}", str(WS_PORT))


def make_users(n_users: int, n_admins: int) -> list[dict]:
    from accounts.models import Role, User

    User.objects.bulk_create(
        [User(username=f"bench{i:05d}", role=Role.ADMIN if i < n_admins else Role.USER, password="!", is_active=True)
         for i in range(n_users)],
        batch_size=2000,
    )
    users = list(User.objects.order_by("id").values("id", "role"))
    return [{"id": u["id"], "role": u["role"], "token": make_token(u["id"], u["role"])} for u in users]


def make_schedule(users: list[dict], rate: int, seconds: int, warmup: int = 2, seed: int = 7) -> list[list]:
    """[[atMs, eid, group]]: `rate`/s to random users and 1/s to admin for warmup + seconds,
    sorted by time. Events of the first `warmup` seconds have ids starting with "w": they count
    for delivery and loss but not for latency (first-use costs: connections, caches, JIT)."""
    rnd = random.Random(seed)
    total = warmup + seconds
    items = [[k * 1000.0 / rate, f"u{k}", f"user.{rnd.choice(users)['id']}"] for k in range(rate * total)]
    items += [[j * 1000.0 + 500, f"a{j}", "admin"] for j in range(total)]
    for it in items:
        if it[0] < warmup * 1000:
            it[1] = "w" + it[1]
    items.sort(key=lambda x: x[0])
    return items


def expected_deliveries(sent: list, users: list[dict]) -> int:
    admins = sum(1 for u in users if u["role"] in ("admin", "moderator"))
    return sum(admins if group == "admin" else 1 for _eid, group, _t in sent)


def analyse(sent: list, received: dict, users: list[dict]) -> dict:
    """Delivered vs expected (every connected socket of the group) and latency figures."""
    admins = [u["id"] for u in users if u["role"] in ("admin", "moderator")]
    expected = set()
    for eid, group, _t in sent:
        if group == "admin":
            expected.update((eid, a) for a in admins)
        else:
            expected.add((eid, int(group.split(".", 1)[1])))
    got = [(e[0], e[1]) for e in received["events"]]
    unique = set(got)
    measured = [e for e in received["events"] if not str(e[0]).startswith("w")]
    lat_all = [e[2] for e in measured]
    lat_admin = [e[2] for e in measured if e[3]]
    lost = len(expected - unique)
    return {
        "sentEvents": len(sent), "warmupEvents": sum(1 for e in sent if str(e[0]).startswith("w")),
        "expectedDeliveries": len(expected), "delivered": len(unique & expected),
        "lost": lost, "duplicates": len(got) - len(unique), "unexpected": len(unique - expected),
        "latency": summary(lat_all), "adminLatency": summary(lat_admin),
        "closedAfterReady": received.get("closedAfterReady", 0),
    }


def run_variant(name: str, *, server_cmd: str | None, kind: str, users, users_file: Path, schedule_file: Path,
                db_url: str, workdir: Path, seconds: int, pad: str, publisher: str = "layer",
                settings: str = "dgt.settings", profile: bool = False) -> dict:
    """Start one server, connect every client, play the schedule, collect the figures."""
    print(f"--- {name}", flush=True)
    wd = workdir / re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:60]
    wd.mkdir(parents=True, exist_ok=True)
    if kind == "sio":
        env = node_env() | {"PORT": str(SIO_PORT), "JWT_SECRET": JWT_SECRET, "REDIS_URL": REDIS_URL,
                            "SIO_KEY": f"{CHANNEL_PREFIX}_sio"}
        server = Proc(["node", str(NODE_DIR / "server.js")], env=env, log=wd / "server.log")
        port, url = SIO_PORT, f"http://127.0.0.1:{SIO_PORT}"
        relay = None
    else:
        server = Proc(server_cmd, env=server_env(db_url, DJANGO_SETTINGS_MODULE=settings,
                                                 BENCH_GC_LOG=os.environ.get("BENCH_GC_LOG", "")),
                      log=wd / "server.log", shell=True)
        # As deployed: the Procfile's relay beside the ws process (it publishes the admin
        # dashboard's snapshot, which the ws process then only forwards: outbox.dashboard).
        relay = Proc(procfile_command("relay"), env=server_env(db_url, DJANGO_SETTINGS_MODULE=settings),
                     log=wd / "relay.log", shell=True)
        port = WS_PORT
        url = f"http://127.0.0.1:{WS_PORT}" if kind == "dgtsio" else f"ws://127.0.0.1:{WS_PORT}/ws/events/"
    clients = None
    try:
        wait_port(port, proc=server)
        stats = ProcStats(server.pid)
        rss_idle = stats.rss_mb()
        clients = WsClients(mode=kind, url=url, users_file=users_file, workdir=wd)
        open_, failed, connect_s = clients.connect(len(users))
        kb_per_socket = (stats.rss_mb() - rss_idle) * 1024 / open_ if open_ else None
        print(f"    {open_} sockets ready, {failed} failed, in {connect_s:.1f} s; "
              f"{fmt(kb_per_socket)} KB per socket", flush=True)
        time.sleep(1)
        cpu0 = stats.cpu_seconds()
        spy = pyspy_start(server.pid, wd / "server.collapsed", seconds + 2) if profile and kind != "sio" else None
        out = wd / "sent.json"
        if kind == "sio":
            cfg = wd / "emitter.json"
            cfg.write_text(json.dumps({"redisUrl": REDIS_URL, "sioKey": f"{CHANNEL_PREFIX}_sio", "schedule": str(schedule_file),
                                       "out": str(out), "pad": pad}))
            pub = Proc(["node", str(NODE_DIR / "emitter.js"), str(cfg)], env=node_env(), log=wd / "publisher.log")
        else:
            pub = Proc([str(VENV_BIN / "python"), str(ROOT / "bench" / "dgt_publisher.py"), "--mode", publisher,
                        "--schedule", str(schedule_file), "--out", str(out), "--pad", pad],
                       env=server_env(db_url, DJANGO_SETTINGS_MODULE=settings), log=wd / "publisher.log")
        pub.p.wait(timeout=seconds * 8 + 120)  # the outbox path may publish slower than the schedule
        if pub.p.returncode != 0:
            raise RuntimeError(f"publisher failed:\n{pub.log_tail()}")
        sent = json.loads(out.read_text())
        drained = clients.drain(expected_deliveries(sent["sent"], users))  # late frames are late, not lost
        cpu = stats.cpu_seconds() - cpu0
        rss = stats.rss_mb()
        received = clients.dump()
        result = analyse(sent["sent"], received, users)
        ts = [e[2] for e in sent["sent"]]
        result["publishRate"] = round((len(ts) - 1) / ((ts[-1] - ts[0]) / 1000), 1) if len(ts) > 1 and ts[-1] > ts[0] else None
        result.update(name=name, server=server_cmd or "node server.js (socket.io + redis-adapter)",
                      publisher=publisher if kind != "sio" else "redis-emitter", socketsReady=open_,
                      socketsFailed=failed, connectSeconds=connect_s,
                      connectRate=round(open_ / connect_s, 1) if connect_s else None,
                      kbPerSocket=round(kb_per_socket, 1) if kb_per_socket is not None else None,
                      serverCpuSeconds=round(cpu, 2),
                      serverRssMb=round(rss, 1), publisherLateMs=round(sent.get("lateMs", 0), 1),
                      drainSeconds=round(drained, 1))
        if spy:
            spy.p.wait(timeout=60)
            result["profileTop"] = pyspy_top(wd / "server.collapsed", 300)
            result["profileSelf"] = pyspy_self_top(wd / "server.collapsed", 20)
        lat = result["latency"]
        print(f"    delivered {result['delivered']}/{result['expectedDeliveries']} lost {result['lost']} "
              f"dup {result['duplicates']}; p50 {fmt(lat['p50'])} ms p99 {fmt(lat['p99'])} ms max {fmt(lat['max'])} ms; "
              f"admin p99 {fmt(result['adminLatency']['p99'])} ms; server CPU {cpu:.1f} s, RSS {rss:.0f} MB; published "
              f"{fmt(result['publishRate'])} ev/s", flush=True)
        return result
    finally:
        if clients:
            clients.close()
        server.stop()
        if relay is not None:
            relay.stop()


def full_path(*, users, users_file: Path, db_url: str, workdir: Path, n: int, rate: float) -> dict:
    """HTTP approve on the Procfile's web process -> `listings.update` frame on the owner's socket
    (and the admins' sockets) via the Procfile's ws process."""
    from listings.models import Listing

    print("--- full path: HTTP approve -> frame received", flush=True)
    wd = workdir / "full_path"
    wd.mkdir(parents=True, exist_ok=True)
    owners = [u for u in users if u["role"] == "user"]
    moderator = next(u for u in users if u["role"] == "admin")
    rnd = random.Random(11)
    Listing.objects.bulk_create([Listing(owner_id=rnd.choice(owners)["id"], title=f"bench {i}", category="misc",
                                         price="100.00") for i in range(n)])
    listings = list(Listing.objects.filter(status="pending").values_list("id", "owner_id")[:n])
    close_django_connections()
    web_cmd = procfile_command("web").replace("0.0.0.0", "127.0.0.1").replace("${PORT:-8000}", str(WEB_PORT))
    web = Proc(web_cmd, env=server_env(db_url), log=wd / "web.log", shell=True)
    ws = Proc(procfile_ws(), env=server_env(db_url), log=wd / "ws.log", shell=True)
    relay = Proc(procfile_command("relay"), env=server_env(db_url), log=wd / "relay.log", shell=True)
    clients = None
    try:
        wait_http_ok(f"http://127.0.0.1:{WEB_PORT}/healthz", proc=web)
        wait_port(WS_PORT, proc=ws)
        clients = WsClients(mode="dgt", url=f"ws://127.0.0.1:{WS_PORT}/ws/events/", users_file=users_file, workdir=wd)
        clients.connect(len(users))
        sent: dict[int, tuple[int, float]] = {}
        http_lat, errors = [], 0
        start = time.time()
        for k, (lid, owner) in enumerate(listings):
            wait = start + k / rate - time.time()
            if wait > 0:
                time.sleep(wait)
            req = urllib.request.Request(f"http://127.0.0.1:{WEB_PORT}/api/listings/{lid}/approve", method="POST",
                                         data=b'{"expiryDays": 30}',
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {moderator['token']}"})
            t0 = time.time() * 1000
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    ok = r.status == 200
            except Exception:
                ok = False
            http_lat.append(time.time() * 1000 - t0)
            if ok:
                sent[lid] = (owner, t0)
            else:
                errors += 1
        clients.drain(len(sent) * (1 + sum(1 for u in users if u["role"] in ("admin", "moderator"))))
        received = clients.dump()
    finally:
        if clients:
            clients.close()
        ws.stop()
        web.stop()
        relay.stop()
    n_admins = sum(1 for u in users if u["role"] in ("admin", "moderator"))
    owner_lat, admin_lat, got = [], [], set()
    for lid, uid, t in received["approvals"]:
        if lid not in sent or (lid, uid) in got:
            continue
        got.add((lid, uid))
        (owner_lat if uid == sent[lid][0] else admin_lat).append(t - sent[lid][1])
    expected = len(sent) * (1 + n_admins)
    result = {"approvals": len(sent), "httpErrors": errors, "http": summary(http_lat), "ownerFrame": summary(owner_lat),
              "adminFrame": summary(admin_lat), "expectedFrames": expected, "receivedFrames": len(got),
              "lost": expected - len(got), "rate": rate}
    print(f"    {len(sent)} approvals; HTTP p50 {fmt(result['http']['p50'])} ms; owner frame p50 "
          f"{fmt(result['ownerFrame']['p50'])} p99 {fmt(result['ownerFrame']['p99'])} ms; lost {result['lost']}", flush=True)
    return result


def body(args) -> dict:
    n_users, n_admins, rate, seconds = (40, 4, 20, 2) if args.smoke else (1000, 100, 200, 30)
    raise_nofile(20000)
    npm_install()
    workdir = log_dir("event_latency")
    with bench_database("events", keep=args.keep_db) as db_url:
        users = make_users(n_users, n_admins)
        close_django_connections()
        users_file = workdir / "users.json"
        users_file.write_text(json.dumps(users))
        schedule_file = workdir / "schedule.json"
        schedule_file.write_text(json.dumps(make_schedule(users, rate, seconds)))
        pad = "x" * 100  # a frame of ~250 bytes, the size of a listings.update frame
        common = dict(users=users, users_file=users_file, schedule_file=schedule_file, db_url=db_url,
                      workdir=workdir, seconds=seconds, pad=pad)
        pf = procfile_ws()
        want = args.variants.split(",")
        runs, path = [], None
        if "peer" in want:
            runs.append(run_variant("peer: Socket.IO + redis-adapter", server_cmd=None, kind="sio", **common))
        if "daphne" in want:
            runs.append(run_variant(f"dgt: daphne + channel layer{' (Procfile ws)' if server_program(pf) == 'daphne' else ''}",
                                    server_cmd=pf if server_program(pf) == "daphne" else DAPHNE, kind="dgt",
                                    profile=args.profile, **common))
        if "uvicorn" in want:
            runs.append(run_variant(
                f"dgt: uvicorn+uvloop + channel layer{' (Procfile ws)' if server_program(pf) == 'uvicorn' else ''}",
                server_cmd=pf if server_program(pf) == "uvicorn" else UVICORN, kind="dgt", profile=args.profile, **common))
        if "uvicorn-core" in want:  # the other channels-redis layer (core, lists + BZPOPMIN), pool raised
            runs.append(run_variant("dgt: uvicorn+uvloop + core RedisChannelLayer", server_cmd=UVICORN, kind="dgt",
                                    settings="bench.settings_core_layer", profile=args.profile, **common))
        if not (server_program(pf) == "daphne" or server_program(pf) == "uvicorn") and "procfile" in want:
            runs.append(run_variant("dgt: Procfile ws + channel layer", server_cmd=pf, kind="dgt", **common))
        if "dgt-sio" in want:
            runs.append(run_variant("dgt Socket.IO endpoint: /socket.io/ on the Procfile ws", server_cmd=pf,
                                    kind="dgtsio", profile=args.profile, **common))
        if "outbox" in want:
            runs.append(run_variant("dgt: Procfile ws, whole outbox path (publish+commit+send)", server_cmd=pf,
                                    kind="dgt", publisher="outbox", profile=args.profile, **common))
        if "fullpath" in want:
            path = full_path(users=users, users_file=users_file, db_url=db_url, workdir=workdir,
                             n=10 if args.smoke else 200, rate=10.0 if args.smoke else 20.0)
    peer = next((r for r in runs if r["name"].startswith("peer")), None)
    sio_run = next((r for r in runs if r["name"].startswith("dgt Socket.IO endpoint")), None)
    dgt_runs = [r for r in runs if r is not peer and r is not sio_run and "outbox path" not in r["name"]]
    procfile_run = next((r for r in dgt_runs if "(Procfile ws)" in r["name"] or r["name"].startswith("dgt: Procfile ws +")),
                        None)
    peer_p99 = peer["latency"]["p99"] if peer else None
    for r in runs:
        r["p99VsPeer"] = (r["latency"]["p99"] / peer_p99) if peer_p99 and r["latency"]["p99"] is not None else None
    met = None
    if procfile_run and peer_p99:
        met = (procfile_run["lost"] == 0 and procfile_run["latency"]["p99"] is not None
               and procfile_run["latency"]["p99"] <= peer_p99)
    sio_met = None
    if sio_run and peer_p99:
        sio_met = sio_run["lost"] == 0 and sio_run["latency"]["p99"] is not None and sio_run["latency"]["p99"] <= 1.5 * peer_p99
    return {"users": n_users, "admins": n_admins, "rate": rate, "durationSeconds": seconds, "runs": runs, "fullPath": path,
            "procfileWs": pf, "goalMet": met, "socketioGoalMet": sio_met,
            "socketioGoal": "dgt Socket.IO endpoint: p99 <= 1.5 x Socket.IO peer p99 and zero lost events",
            "goal": "Procfile ws process: p99 <= Socket.IO peer p99 and zero lost events"}


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--variants", default="peer,daphne,uvicorn,dgt-sio,outbox,fullpath",
                   help="comma list of: peer, daphne, uvicorn, uvicorn-core, procfile, "
                        "dgt-sio, outbox, fullpath")
    p.add_argument("--profile", action="store_true", help="py-spy the dgt ws process during each dgt run")
    a = p.parse_args()
    sys.exit(run_main("event_latency", a, body))
