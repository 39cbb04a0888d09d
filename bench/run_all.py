"""`make bench`: run every benchmark in bench/ in turn and write the table to docs/benchmarks.md.

Each benchmark runs as its own process (`bench/<name>.py --json var/bench/results/<name>.json`);
one that fails is recorded as failed and the others still run. `--smoke` runs them at a tiny
size and writes var/bench/benchmarks-smoke.md instead (that is what `make test` checks).
`--only a,b` runs a subset (the table then keeps only those).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import NODE_DIR, PG_URL, REDIS_URL, ROOT, VENV_BIN, fmt, server_program  # noqa: E402

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
BENCHMARKS = ["api_writes", "event_latency", "idle_sockets", "expiry_job", "outbox_relay", "notifications_rate",
              "reconnect_storm"]
TITLES = {
    "api_writes": "1. API vs the naive Django peer and pgbench TPC-B",
    "event_latency": "2. Event latency vs the Socket.IO peer",
    "idle_sockets": "3. Connection capacity (idle sockets)",
    "expiry_job": "4. Expiry job cost",
    "outbox_relay": "5. Outbox relay drain",
    "notifications_rate": "6. Notification throughput (global limit)",
    "reconnect_storm": "7. Reconnect storm (restart of the ws process, resume)",
}


def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return f"? ({e})"


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), "0")
    return {"kernel": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "memoryGb": round(int(mem) / 2**20, 1),
            "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def versions() -> dict:
    py = VENV_BIN / "python"
    pkgs = sh([str(py), "-c", "import importlib.metadata as m;print(' '.join(f'{p}=={m.version(p)}' for p in "
               "['Django','channels','channels-redis','daphne','uvicorn','uvloop','gunicorn','psycopg','redis','celery']))"])
    node_pkgs = []
    for p in ["socket.io", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "socket.io-client", "ws", "redis"]:
        f = NODE_DIR / "node_modules" / p / "package.json"
        if f.exists():
            node_pkgs.append(f"{p}@{json.loads(f.read_text())['version']}")
    return {"python": sh([str(py), "-V"]), "packages": pkgs, "postgres": sh(["psql", PG_URL, "-Atc", "show server_version"]),
            "redis": sh(["redis-cli", "-u", REDIS_URL, "info", "server"]).split("redis_version:")[-1].split()[0]
            if "redis_version" in sh(["redis-cli", "-u", REDIS_URL, "info", "server"]) else "?",
            "node": sh(["node", "--version"]), "nodePackages": " ".join(node_pkgs),
            "pgbench": sh(["pgbench", "--version"]), "redisBenchmark": sh(["redis-benchmark", "--version"])}


def verdict(r: dict) -> str:
    if r.get("status") == "not available":
        return "not available in this build"
    if r.get("status") == "failed":
        return "FAILED to run"
    return "met" if r.get("goalMet") else "**NOT met**"


def rows_for(name: str, r: dict) -> list[str]:
    """Markdown table rows: | benchmark | figure | baseline (same run) | ratio | goal | verdict |"""
    t = TITLES[name] + (f" (run of {r['_from']} UTC)" if r.get("_from") else "")
    if r.get("status") in ("not available", "failed"):
        return [f"| {t} | - | - | - | - | {verdict(r)}: {r.get('reason', '')} |"]
    if name == "api_writes":
        b = r["pgbench"]
        out = []
        for ep, e in r["endpoints"].items():
            if e.get("status") == "not available":
                out.append(f"| {t}: {ep} | - | - | - | - | not available in this build: {e['reason']} |")
                continue
            n = e.get("naive")
            if n is None:  # a result of the older script (pgbench only)
                out.append(f"| {t}: {ep} | {e['okRps']:,.0f} req/s, p99 {fmt(e['p99'])} ms | pgbench {b['tps']:,.0f} tps | "
                           f"{e['ratio']:.2f} x | - | {verdict(e)} |")
                continue
            out.append(f"| {t}: {ep} | {e['okRps']:,.0f} req/s, p50 {fmt(e['p50'])} ms, p99 {fmt(e['p99'])} ms, "
                       f"{e['cpuMsPerRequest']} ms CPU/req, {e['errors']} errors (load {e['loadavg']}) | naive peer "
                       f"{n['okRps']:,.0f} req/s, p99 {fmt(n['p99'])} ms, {n['cpuMsPerRequest']} ms CPU/req; pgbench "
                       f"{b['tps']:,.0f} tps | {fmt(e['ratioNaive'], ' x naive', 2)}; {e['ratio']:.2f} x pgbench | "
                       f"{e['goal']} | {'met' if e['goalMet'] else '**NOT met**'} |")
        return out
    if name == "event_latency":
        peer = next((x for x in r["runs"] if x["name"].startswith("peer")), None)
        peer_p99 = peer["latency"]["p99"] if peer else None
        out = []
        for run in r["runs"]:
            lat = run["latency"]
            is_goal = "(Procfile ws)" in run["name"] or run["name"].startswith("dgt: Procfile ws +")
            is_sio = run["name"].startswith("dgt Socket.IO endpoint")
            goal = "p99 <= 1.5 x peer, 0 lost" if is_sio else "p99 <= peer, 0 lost"
            if run is peer:
                v = "baseline"
            elif is_sio and peer_p99 is not None:
                v = "met" if r.get("socketioGoalMet") else "**NOT met**"
            elif peer_p99 is None:
                v = "no peer in this run"
            elif is_goal:
                v = ("met" if r["goalMet"] else "**NOT met**") + " (the goal row: Procfile ws)"
            else:
                v = "would meet" if run["lost"] == 0 and lat["p99"] <= peer_p99 else "would not meet"
            out.append(f"| {t}: {run['name']} | {run['delivered']:,}/{run['expectedDeliveries']:,} delivered, lost "
                       f"{run['lost']}; p50 {fmt(lat['p50'])} / p99 {fmt(lat['p99'])} / max {fmt(lat['max'])} ms; admin p99 "
                       f"{fmt(run['adminLatency']['p99'])} ms; CPU {run['serverCpuSeconds']} s, RSS {run['serverRssMb']:.0f} MB"
                       f"{'; published ' + fmt(run['publishRate']) + ' ev/s' if run.get('publishRate') else ''}"
                       f"{'; ' + fmt(run['connectRate']) + ' connects/s' if run.get('connectRate') else ''}"
                       f"{'; ' + fmt(run['kbPerSocket']) + ' KB/socket' if run.get('kbPerSocket') else ''} "
                       f"| peer p99 {fmt(peer_p99)} ms | {fmt(run.get('p99VsPeer'), ' x', 2)} | {goal} | {v} |")
        fp = r.get("fullPath")
        if fp:
            out.append(f"| {t}: full path HTTP approve -> owner frame ({fp['approvals']} approvals at {fp['rate']:.0f}/s) | "
                       f"p50 {fmt(fp['ownerFrame']['p50'])} / p99 {fmt(fp['ownerFrame']['p99'])} ms; admin frames p99 "
                       f"{fmt(fp['adminFrame']['p99'])} ms (HTTP alone p50 {fmt(fp['http']['p50'])} / p99 "
                       f"{fmt(fp['http']['p99'])} ms); lost {fp['lost']} of {fp['expectedFrames']} | - | - | reported | - |")
        return out
    if name == "idle_sockets":
        return [f"| {t}: {x['name']} (`{server_program(x['server'])}`) | {x['sockets']:,} sockets ({x['failed']} failed), "
                f"{fmt(x['mbPer1000'])} MB per 1,000 = {fmt(x['kbPerConnection'])} KB each; {fmt(x['connectPerSecond'])} "
                f"connects/s; {x['openAfterIdle']:,} open after {x['idleSeconds']:.0f} s idle | Centrifugo ~30 KB/conn | "
                f"{fmt(x['vsCentrifugo'], ' x', 2)} | reported | - |" for x in r["runs"]]
    if name == "expiry_job":
        a, b = r["runs"]
        return [f"| {t} | {a['listings']:,} listings: {a['seconds']} s; {b['listings']:,}: {b['seconds']} s ({b['due']:,} due) "
                f"| the smaller run | {r['ratio']:.2f} x | <= 1.3 x and <= 5 s | {verdict(r)} |"]
    if name == "outbox_relay":
        return [f"| {t} | {r['sent']:,} rows in {r['drainSeconds']} s = {r['eventsPerSecond']:,.0f} events/s; left "
                f"{r['left']}, failed {r['failed']} | redis-benchmark PUBLISH {r['redisPublish1']:,.0f}/s (1 client), "
                f"{r['redisPublish50']:,.0f}/s (50) | {r['ratio1']:.2f} x / {r['ratio50']:.2f} x | >= 5,000/s | {verdict(r)} |"]
    if name == "notifications_rate":
        return [f"| {t} | {r['sent']:,}/{r['queued']:,} sent; steady {fmt(r['steadyPerSecond'])}/s, busiest second "
                f"{r['busiestSecond']} | limit 100/s | {fmt((r['steadyPerSecond'] or 0) / 100, ' x', 2)} | 100/s +-5% | {verdict(r)} |"]
    if name == "reconnect_storm":
        c, p, st, d = r["connect"], r.get("peer") or {}, r["storm"], r["delivery"]
        ratio = c["perSecond"] / p["perSecond"] if p.get("perSecond") and c.get("perSecond") else None
        return [
            f"| {t}: connect + auth + ready, {r['sockets']:,} sockets | {fmt(c['perSecond'])}/s ({c['failed']} failed), "
            f"RSS {fmt(c['rssMb'])} MB = {fmt(c['kbPerSocket'])} KB per socket | Node peer {fmt(p.get('perSecond'))}/s, "
            f"RSS {fmt(p.get('rssMb'))} MB = {fmt(p.get('kbPerSocket'))} KB per socket | {fmt(ratio, ' x', 2)} | >= peer | "
            f"{'met' if ratio and ratio >= 1 else '**NOT met**' if ratio else 'no peer in this run'} |",
            f"| {t}: restart ({st.get('restart', 'cold')}, {r.get('workers', 1)} ws processes, "
            f"{r.get('clientProcesses', 1)} client processes), every socket back and resumed | ready {fmt(st['readyAllSeconds'])} s, resumed "
            f"{fmt(st['resumedAllSeconds'])} s after the stop (process start {st['processStartSeconds']} s); "
            f"{d['delivered']:,}/{d['expected']:,} events delivered, lost {d['lost']}, dup {d['duplicates']}, out of order "
            f"{d['outOfOrder']}; PostgreSQL connections peak {r['pgConnectionsPeak']} | pool bound {r['poolBound']} | - | "
            f"<= 10 s, 0 lost, peak <= bound | {verdict(r)} |",
        ]
    return [f"| {t} | see JSON | | | | {verdict(r)} |"]


PLUMBING = ("gunicorn/", "click/", "threading.py", "<frozen", "process ", "<module>", "uvicorn/main.py",
            "uvicorn/server.py", "uvicorn/_compat.py", "concurrent/futures/thread.py", "django/utils/deprecation.py",
            "django/core/handlers/", "contextlib.py", "whitenoise/", "corsheaders/")


def hot_frames(top: list, n: int = 35) -> list[str]:
    """The profile's hottest frames without server plumbing (gunicorn/uvicorn loops, threads)."""
    rows = [(f, inc, own) for f, inc, own in top if not any(x in f for x in PLUMBING)]
    return [f"{inc:5.1f}% incl {own:5.1f}% self  {f}" for f, inc, own in rows[:n]]


def details(name: str, r: dict) -> str:
    if r.get("status") != "ok":
        return ""
    lines = []
    for run in r.get("runs", []) if name == "event_latency" else []:
        if run.get("profileTop"):
            lines.append(f"py-spy profile of the ws process during `{run['name']}` (inclusive %, top frames):\n")
            lines += ["```", *hot_frames(run["profileTop"]), "```", ""]
    for run in r.get("runs", []) if name == "idle_sockets" else []:
        if run.get("profileTop"):
            lines.append(f"py-spy profile of `{server_program(run['server'])}` during the first 20 s of connects:\n")
            lines += ["```", *hot_frames(run["profileTop"]), "```", ""]
    if name == "api_writes":
        for ep, e in r["endpoints"].items():
            if e.get("profileTop"):
                lines.append(f"py-spy profile of the gunicorn workers during `{ep}` (inclusive %, top frames):\n")
                lines.append("```")
                lines += hot_frames(e["profileTop"])
                lines.append("```")
    return "\n".join(lines)


def write_doc(path: Path, results: dict, meta: dict, commands: list[str]) -> None:
    order = [n for n in BENCHMARKS if n in results]
    out = [
        BEGIN,
        "<!-- written by `make bench` (bench/run_all.py) between these markers; the rest of the file is by hand -->",
        "",
        "Each figure is compared with a baseline measured in the same run, on the same machine, against the same",
        "PostgreSQL and Redis; the machine is shared, so read the ratios rather than the absolutes.",
        "",
        f"Run: {meta['started']} UTC, {meta['seconds']:.0f} s{' — SMOKE SIZE, not figures' if meta['smoke'] else ''}.",
        "",
        "| benchmark | figure | baseline (same run) | ratio | goal | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for n in order:
        out += rows_for(n, results[n])
    out += ["", "## Machine", ""]
    m, v = meta["machine"], meta["versions"]
    out += [f"- {m['cpu']}, {m['cores']} cores, {m['memoryGb']} GB RAM; {m['kernel']}; load average at start {m['loadavg']}",
            f"- {v['python']}; {v['packages']}",
            f"- PostgreSQL {v['postgres']}; Redis {v['redis']}; {v['pgbench']}; {v['redisBenchmark']}",
            f"- Node {v['node']}; {v['nodePackages']}",
            "", "## Commands", "", "```", *commands, "```", ""]
    for n in order:
        d = details(n, results[n])
        if d:
            out += [f"## {TITLES[n]}: profile", "", d, ""]
    out += ["Raw results (JSON, every figure) are in var/bench/results/ after a run.", END]
    text = "\n".join(out)
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        text = old[: old.index(BEGIN)] + text + old[old.index(END) + len(END):]
    else:
        text = "# Benchmarks\n\n" + text + "\n"
    path.write_text(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--only", default="")
    p.add_argument("--profile", action="store_true", help="py-spy profiles where a benchmark supports it")
    p.add_argument("--out", type=Path)
    p.add_argument("--render-only", action="store_true", help="rewrite the table from the last results, run nothing")
    a = p.parse_args()
    names = [n for n in BENCHMARKS if not a.only or n in a.only.split(",")]
    results_dir = ROOT / "var" / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    meta = {"started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"), "smoke": a.smoke,
            "machine": machine(), "versions": versions()}
    t0 = time.time()
    results, commands = {}, []
    for n in names if a.render_only else []:
        jp = results_dir / f"{n}{'-smoke' if a.smoke else ''}.json"
        if jp.exists():
            results[n] = json.loads(jp.read_text())
            commands.append(f".venv/bin/python bench/{n}.py{' --smoke' if a.smoke else ''}")
            meta["started"] = dt.datetime.fromtimestamp(jp.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    for n in [] if a.render_only else names:
        jp = results_dir / f"{n}{'-smoke' if a.smoke else ''}.json"
        jp.unlink(missing_ok=True)
        cmd = [str(VENV_BIN / "python"), f"bench/{n}.py", "--json", str(jp)]
        if a.smoke:
            cmd.append("--smoke")
        if a.profile and n in ("api_writes", "event_latency", "idle_sockets"):
            cmd.append("--profile")
        commands.append(" ".join([".venv/bin/python", *cmd[1:2], *cmd[4:]]))
        print(f"=== {n}: {' '.join(cmd[1:])}", flush=True)
        rc = subprocess.run(cmd, cwd=ROOT).returncode
        if rc == 0 and jp.exists():
            results[n] = json.loads(jp.read_text())
        else:
            results[n] = {"status": "failed", "reason": f"exit code {rc}, see its output above"}
    for n in BENCHMARKS:  # --only: keep the other benchmarks' last results in the table, marked as older
        jp = results_dir / f"{n}{'-smoke' if a.smoke else ''}.json"
        if n not in results and jp.exists():
            results[n] = json.loads(jp.read_text())
            results[n]["_from"] = dt.datetime.fromtimestamp(jp.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    meta["seconds"] = time.time() - t0 if not a.render_only else sum(r.get("seconds", 0) for r in results.values())
    meta_file = results_dir / f"meta{'-smoke' if a.smoke else ''}.json"
    if a.render_only and meta_file.exists():  # the machine, load and commands of the run that made the results
        saved = json.loads(meta_file.read_text())
        meta.update(machine=saved["machine"], versions=saved["versions"], started=saved["started"])
        flags = [c.split(" ", 2)[2] if c.count(" ") >= 2 else "" for c in saved.get("commands", [])]
        extra = " --profile" if any("--profile" in f for f in flags) else ""
        commands = [f".venv/bin/python bench/{n}.py{' --smoke' if a.smoke else ''}"
                    f"{extra if n in ('api_writes', 'event_latency', 'idle_sockets') else ''}" for n in results]
    elif not a.render_only:
        meta_file.write_text(json.dumps(meta | {"commands": commands}))
    out = a.out or (ROOT / "var" / "bench" / "benchmarks-smoke.md" if a.smoke else ROOT / "docs" / "benchmarks.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_doc(out, results, meta, commands)
    print(f"wrote {out}")
    failed = [n for n, r in results.items() if r.get("status") == "failed"]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
