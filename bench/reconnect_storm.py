"""Benchmark 7 — reconnect storm: every client of the ws processes comes back at once and resumes.

N authenticated clients (10,000; --smoke 200; --sockets N), spread over --client-processes Node
processes (2: one alone is the bottleneck), hold a socket each on the Procfile's `ws` line. A
publisher (bench/dgt_publisher.py --mode outbox: publish in a transaction, commit, send after
commit: the path whose rows resume reads) sends RATE events/s to random users the whole time.
Mid-way the ws processes restart (--restart):
* handover (default; a deploy, docs/operations.md "Restarting the ws processes"): the line runs
  once per core, each on its own held SO_REUSEPORT listening socket of the port (`--fd`), as a
  socket unit holds it; new processes start on the same sockets, and once they serve, the old
  ones get SIGTERM;
* cold (a crash): the line runs once on its port; it is stopped, then started again.
Every client (bench/clients/ws_clients.js, reconnect on) reconnects at once, retrying every
50-250 ms while the port refuses, and resumes at connect (`?after=<last id it got>`: missed events
before any live frame).
Reported: connect + auth + ready rate of the first connect (and the Node Socket.IO peer's,
measured the same way, with its RSS), seconds from the stop until every socket is ready again
and until every socket's resume finished (goal: within 10 s), every event delivered once and in
id order per user (nothing lost), the peak of PostgreSQL connections the ws processes held
(psutil, sampled every 50 ms; bound: DB_POOL_MAX_SIZE of the Procfile line per process), and when
the clients saw their sockets closed, upgraded and ready again (percentiles after the stop).
Run: .venv/bin/python bench/reconnect_storm.py [--smoke | --sockets N] [--restart handover|cold]
     [--processes P] [--client-processes C] [--json out.json]
"""
from __future__ import annotations

import json
import os
import re
import random
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    CHANNEL_PREFIX, JWT_SECRET, NODE_DIR, REDIS_URL, ROOT, VENV_BIN, Proc, ProcStats, bench_database,
    close_django_connections, fmt, free_port, pct, log_dir, make_token, node_env, npm_install, parser, procfile_command,
    raise_nofile, run_main, server_env, wait_port,
)
from wsdriver import WsClients  # noqa: E402

WS_PORT = free_port(40)
SIO_PORT = free_port(WS_PORT - int(__import__("common").PORT_BASE) + 1)
GOAL_SECONDS = 10.0


def procfile_ws() -> str:
    return procfile_command("ws").replace("0.0.0.0", "127.0.0.1").replace("${WS_PORT:-8001}", str(WS_PORT))


def pool_bound(cmd: str) -> int | None:
    """DB_POOL_MAX_SIZE as the Procfile line sets it (its default)."""
    m = re.search(r"DB_POOL_MAX_SIZE=\$\{\w+:-(\d+)\}|DB_POOL_MAX_SIZE=(\d+)", cmd)
    return int(m.group(1) or m.group(2)) if m else None


class ProcsStats:
    """ProcStats summed over several process trees (ws processes, Node client processes)."""

    def __init__(self, pids: list[int]):
        self.stats = [ProcStats(pid) for pid in pids]

    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds() for s in self.stats)

    def rss_mb(self) -> float:
        return sum(s.rss_mb() for s in self.stats)


class PgConnections:
    """Peak count of PostgreSQL connections (to port 5432) held by a process tree, sampled."""

    def __init__(self, pids_fn, interval: float = 0.05):
        self.pids_fn, self.interval, self.peak, self.samples = pids_fn, interval, 0, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _count(self) -> int:
        import psutil

        procs = []
        for pid in self.pids_fn():
            try:
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
            except psutil.Error:
                pass
        n = 0
        for p in procs:
            try:
                n += sum(1 for c in p.net_connections(kind="tcp") if c.raddr and c.raddr.port == 5432)
            except psutil.Error:
                pass
        return n

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._count())
            self.samples += 1
            time.sleep(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)


class ListenQueue:
    """The kernel's counts of connections refused by a full listen queue (TcpExtListenOverflows,
    TcpExtListenDrops in /proc/net/netstat), machine-wide, from creation to `delta()`."""

    KEYS = ("ListenOverflows", "ListenDrops")

    def __init__(self):
        self.start = self._read()

    @classmethod
    def _read(cls) -> dict[str, int]:
        try:
            lines = Path("/proc/net/netstat").read_text().splitlines()
        except OSError:
            return {}
        for names, values in zip(lines[::2], lines[1::2]):
            if names.startswith("TcpExt:"):
                row = dict(zip(names.split()[1:], map(int, values.split()[1:])))
                return {k: row.get(k, 0) for k in cls.KEYS}
        return {}

    def delta(self) -> dict[str, int]:
        end = self._read()
        return {k: end[k] - self.start.get(k, 0) for k in end}


def make_users(n: int) -> list[dict]:
    from accounts.models import User

    User.objects.bulk_create([User(username=f"storm{i:05d}", password="!") for i in range(n)], batch_size=5000)
    return [{"id": uid, "role": "user", "token": make_token(uid, "user")}
            for uid in User.objects.order_by("id").values_list("id", flat=True)]


def make_schedule(users: list[dict], rate: int, seconds: float, seed: int = 12) -> list[list]:
    rnd = random.Random(seed)
    return [[k * 1000.0 / rate, f"s{k}", f"user.{rnd.choice(users)['id']}"] for k in range(int(rate * seconds))]


def check_delivery(sent: list, received: dict) -> dict:
    """Every (event, user) once; per user, frame ids strictly increasing in receipt order."""
    expected = {(eid, int(group.split(".", 1)[1])) for eid, group, _t in sent}
    got = [(e[0], e[1]) for e in received["events"]]
    unique = set(got)
    last: dict[int, int] = {}
    out_of_order = 0
    for _eid, uid, _lat, _admin, fid in received["events"]:
        if fid is not None and fid <= last.get(uid, 0):
            out_of_order += 1
        last[uid] = max(last.get(uid, 0), fid or 0)
    return {"expected": len(expected), "delivered": len(unique & expected), "lost": len(expected - unique),
            "duplicates": len(got) - len(unique), "outOfOrder": out_of_order}


class HeldListener:
    """A listening socket on the ws port held by this process, as a supervisor holds it (a systemd
    socket unit with ReusePort=, docs/operations.md "Restarting the ws processes"): the Procfile
    line serves it by fd (`--fd N` for `--host/--port`), so it outlives each process, and a new
    process serves it beside the old one. Several of them (SO_REUSEPORT) share the port; the kernel
    spreads new connections over them evenly."""

    def __init__(self, port: int, backlog: int):
        import socket

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.sock.bind(("127.0.0.1", port))
        # accepted connections inherit it; uvicorn --fd serves the socket as a pipe and never sets it
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.listen(backlog)
        self.sock.set_inheritable(True)

    def command(self, cmd: str) -> str:
        """The Procfile line serving this socket: only `--host H --port P` becomes `--fd N`."""
        return re.sub(r"--host \S+ --port \S+", f"--fd {self.sock.fileno()}", cmd)

    def close(self) -> None:
        self.sock.close()


def wait_log(proc: Proc, text: str, timeout: float = 120) -> None:
    """Until `text` is in the process's log (uvicorn's "Application startup complete")."""
    deadline = time.monotonic() + timeout
    while text not in proc.log_path.read_text(errors="replace"):
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{text!r} not in the log:\n{proc.log_tail()}")
        time.sleep(0.02)


def peer_connect(users_file: Path, n: int, wd: Path, client_processes: int) -> dict:
    """The Node Socket.IO peer: N sockets connected, authenticated and ready; rate and RSS."""
    env = node_env() | {"PORT": str(SIO_PORT), "JWT_SECRET": JWT_SECRET, "REDIS_URL": REDIS_URL,
                        "SIO_KEY": f"{CHANNEL_PREFIX}_sio"}
    server = Proc(["node", str(NODE_DIR / "server.js")], env=env, log=wd / "peer.log")
    clients = None
    try:
        wait_port(SIO_PORT, proc=server)
        stats = ProcStats(server.pid)
        rss0 = stats.rss_mb()
        clients = WsClients(mode="sio", url=f"http://127.0.0.1:{SIO_PORT}", users_file=users_file, workdir=wd,
                            processes=client_processes)
        open_, failed, secs = clients.connect(n)
        rss = stats.rss_mb()
    finally:
        if clients:
            clients.close()
        server.stop()
    return {"ready": open_, "failed": failed, "seconds": secs, "perSecond": round(open_ / secs, 1) if secs else None,
            "rssMb": round(rss, 1), "kbPerSocket": round((rss - rss0) * 1024 / max(open_, 1), 1)}


def body(args) -> dict:
    n = 200 if args.smoke else args.sockets
    rate = 20 if args.smoke else args.rate
    seconds = 12.0 if args.smoke else 30.0
    raise_nofile(max(20000, n * 2 + 1000))
    npm_install()
    wd = log_dir("reconnect_storm")
    cmd = procfile_ws()
    bound = pool_bound(cmd)
    workers = args.processes
    bound = bound * workers if bound is not None else None  # one pool per process
    with bench_database("storm", keep=args.keep_db) as db_url:
        users = make_users(n)
        close_django_connections()
        users_file = wd / "users.json"
        users_file.write_text(json.dumps(users))
        schedule_file = wd / "schedule.json"
        schedule_file.write_text(json.dumps(make_schedule(users, rate, seconds)))
        peer = None if args.no_peer else peer_connect(users_file, n, wd, args.client_processes)
        if peer:
            print(f"    peer: {peer['ready']} ready in {peer['seconds']:.1f} s = {peer['perSecond']}/s, "
                  f"RSS {peer['rssMb']:.0f} MB", flush=True)
        env = server_env(db_url)
        held = [HeldListener(WS_PORT, 16384) for _ in range(workers)] if args.restart == "handover" else []

        def start_ws(run: int) -> list[Proc]:
            """The Procfile line: once on its port (cold), or once per held socket (handover)."""
            if not held:
                return [Proc(cmd, env=env, log=wd / f"ws-{run}.log", shell=True)]
            return [Proc(h.command(cmd), env=env, log=wd / f"ws-{run}-{k}.log", shell=True, pass_fds=(h.sock.fileno(),))
                    for k, h in enumerate(held)]

        def serving(started: list[Proc]) -> None:
            for proc in started:
                if held:
                    wait_log(proc, "Application startup complete")
                else:
                    wait_port(WS_PORT, proc=proc, timeout=120)

        procs = start_ws(1)  # the ws processes serving now (replaced in place at the restart)

        def ws_pids() -> list[int]:
            return [proc.pid for proc in procs]

        clients = None
        try:
            serving(procs)
            time.sleep(1)
            rss0 = ProcsStats(ws_pids()).rss_mb()
            with PgConnections(ws_pids) as pg:
                clients = WsClients(mode="dgt", url=f"ws://127.0.0.1:{WS_PORT}/ws/events/", users_file=users_file,
                                    workdir=wd, reconnect=True, processes=args.client_processes)
                open_, failed, connect_s = clients.connect(n)
                rss_ready = ProcsStats(ws_pids()).rss_mb()
                print(f"    dgt: {open_} ready, {failed} failed in {connect_s:.1f} s = {open_ / connect_s:.0f}/s; "
                      f"RSS {rss_ready:.0f} MB", flush=True)
                out = wd / "sent.json"
                pub = Proc([str(VENV_BIN / "python"), str(ROOT / "bench" / "dgt_publisher.py"), "--mode", "outbox",
                            "--schedule", str(schedule_file), "--out", str(out), "--pad", "x" * 100],
                           env=server_env(db_url), log=wd / "publisher.log")
                time.sleep(seconds / 3)
                overflow = ListenQueue()
                client_stats = ProcsStats(clients.pids)
                client_cpu0 = client_stats.cpu_seconds()
                if held:
                    # a deploy (docs/operations.md): the new processes serve the held sockets beside
                    # the old ones, then the old ones stop and their clients come back at once
                    t_started = time.time() * 1000
                    new = start_ws(2)
                    serving(new)
                    t_listening = time.time() * 1000
                    old, procs[:] = list(procs), new
                    server_stats = ProcsStats([p_.pid for p_ in new])
                    cpu0 = server_stats.cpu_seconds()
                    t_stop = time.time() * 1000
                    for proc in old:
                        os.killpg(proc.pid, signal.SIGTERM)
                    for proc in old:
                        proc.stop()
                    t_stopped = time.time() * 1000
                else:
                    t_stop = time.time() * 1000
                    procs[0].stop()
                    t_stopped = t_started = time.time() * 1000
                    procs[:] = start_ws(2)
                    serving(procs)
                    t_listening = time.time() * 1000
                    server_stats = ProcsStats(ws_pids())
                    cpu0 = server_stats.cpu_seconds()
                deadline = time.monotonic() + 300
                storm = clients.storm()
                # every client open again and every closed socket resumed (a client of a worker
                # replaced first may be closed twice: once by each old worker)
                while ((storm["open"] < open_ or storm["resumed"] < storm["closed"] or storm["closed"] < open_)
                       and time.monotonic() < deadline):
                    time.sleep(0.2)
                    storm = clients.storm()
                storm_cpu = server_stats.cpu_seconds() - cpu0
                client_cpu = client_stats.cpu_seconds() - client_cpu0
                # min, p10, p50, p90, p99, max of each phase, seconds after the stop
                phases = {k: [round((pct(v, q) - t_stop) / 1000, 2) for q in (0, 10, 50, 90, 99, 100)] if v else []
                          for k, v in clients.phases().items()}
                pub.p.wait(timeout=seconds * 10 + 120)
                if pub.p.returncode != 0:
                    raise RuntimeError(f"publisher failed:\n{pub.log_tail()}")
                sent = json.loads(out.read_text())["sent"]
                clients.drain(len(sent))
                received = clients.dump()
                storm = clients.storm()
                rss_end = ProcsStats(ws_pids()).rss_mb()
        finally:
            if clients:
                clients.close()
            for proc in procs:
                proc.stop()
            for h in held:
                h.close()
    delivery = check_delivery(sent, received)
    ready_s = (storm["lastReadyAt"] - t_stop) / 1000 if storm["readyAgain"] else None
    # when the sockets came back, seconds after the stop: where the time goes (a long tail is the
    # listen queue's SYN retransmits, a steady slope the server's handshake rate)
    ready_after = dict(zip(("first", "p10", "p50", "p90", "p99"), phases["ready"]))
    resumed_s = (storm["lastResumedAt"] - t_stop) / 1000 if storm["resumed"] else None
    result = {
        "sockets": n, "rate": rate, "workers": workers, "clientProcesses": args.client_processes, "durationSeconds": seconds, "procfileWs": cmd, "poolBound": bound,
        "connect": {"ready": open_, "failed": failed, "seconds": connect_s,
                    "perSecond": round(open_ / connect_s, 1) if connect_s else None,
                    "rssMb": round(rss_ready, 1), "kbPerSocket": round((rss_ready - rss0) * 1024 / max(open_, 1), 1)},
        "peer": peer,
        "storm": {**storm, "readyAllSeconds": ready_s, "resumedAllSeconds": resumed_s,
                  "processStartSeconds": round((t_listening - t_started) / 1000, 2),
                  "stopSeconds": round((t_stopped - t_stop) / 1000, 2), "rssEndMb": round(rss_end, 1),
                  "restart": args.restart, "phases": phases,
                  "readyAfterStopSeconds": ready_after, "listenQueue": overflow.delta(),
                  # the new ws processes' CPU (cold: from listening; handover: from the old ones'
                  # stop) until every socket resumed, per socket
                  "cpuSeconds": round(storm_cpu, 2), "cpuMsPerSocket": round(storm_cpu * 1000 / max(n, 1), 3),
                  # the Node clients' CPU in the same window (they share the machine's cores)
                  "clientCpuSeconds": round(client_cpu, 2)},
        "delivery": delivery, "pgConnectionsPeak": pg.peak, "pgSamples": pg.samples,
        # the kernel caps the Procfile's --backlog at this (docs/operations.md)
        "somaxconn": int(Path("/proc/sys/net/core/somaxconn").read_text()),
    }
    result["goalMet"] = bool(
        resumed_s is not None and resumed_s <= GOAL_SECONDS and storm["resumed"] >= open_ == n
        and delivery["lost"] == 0 and delivery["duplicates"] == 0 and delivery["outOfOrder"] == 0
        and (bound is None or pg.peak <= bound))
    print(f"    storm: every socket ready {fmt(ready_s)} s and resumed {fmt(resumed_s)} s after the stop "
          f"(process start {result['storm']['processStartSeconds']} s); delivered {delivery['delivered']}/"
          f"{delivery['expected']}, lost {delivery['lost']}, dup {delivery['duplicates']}, out of order "
          f"{delivery['outOfOrder']}; PostgreSQL connections peak {pg.peak} (bound {bound})", flush=True)
    print(f"    ready again after the stop (s): {ready_after}; {storm['attempts']} connect attempts; CPU "
          f"{result['storm']['cpuMsPerSocket']} ms per socket ({result['storm']['cpuSeconds']} s; clients "
          f"{result['storm']['clientCpuSeconds']} s); "
          f"listen queue {result['storm']['listenQueue']}", flush=True)
    print(f"    after the stop (s; min/p10/p50/p90/p99/max): clients saw their sockets closed {phases['closed']}, "
          f"upgraded again {phases['upgraded']}, ready again {phases['ready']}", flush=True)
    return result


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sockets", type=int, default=10000)
    p.add_argument("--rate", type=int, default=100, help="events/s published during the run")
    p.add_argument("--no-peer", action="store_true", help="skip the Node peer's connect run")
    p.add_argument("--client-processes", type=int, default=2,
                   help="Node client processes, a slice of the users each (one alone is the bottleneck)")
    p.add_argument("--restart", choices=("handover", "cold"), default="handover",
                   help="handover (a deploy, docs/operations.md): the Procfile line once per core on held "
                        "SO_REUSEPORT sockets, new processes serving before the old stop; cold (a crash): "
                        "the line once on its port, stopped, then started on a closed port")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                   help="ws processes for --restart handover (default: one per core, as the Procfile says)")
    a = p.parse_args()
    if a.restart == "cold":
        a.processes = 1
    sys.exit(run_main("reconnect_storm", a, body))
