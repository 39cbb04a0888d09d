"""A/B of bench/inproc_writes.py between two checkouts, their rounds alternated (A, B, A, B, ...)
so both see the same moments of a shared machine: CPU per request of approve and refund.

Run: BENCH_REDIS_URL=redis://127.0.0.1:6379/<db> .venv/bin/python bench/inproc_ab.py A_DIR B_DIR [--rounds 8] [--requests 150]
     [--no-email]
Each checkout runs its own copy of the script (its code), with its own bench database.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()


def start(checkout: Path, args) -> subprocess.Popen:
    need = args.rounds * args.requests + 100
    proc = subprocess.Popen(
        [str(checkout / ".venv" / "bin" / "python"), str(checkout / "bench" / "inproc_writes.py"), "--serve",
         "--requests", str(args.requests), "--warmup", "30", "--rounds", str(need // args.requests + 1),
         "--only", args.only, *(["--no-email"] if args.no_email else [])],
        cwd=checkout, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.strip() == "READY":
            return proc
    raise RuntimeError(f"{checkout}: no READY")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--requests", type=int, default=150)
    p.add_argument("--only", default="approve,refund")
    p.add_argument("--no-email", action="store_true", help="sellers without an email, as bench/api_writes.py")
    args = p.parse_args()
    procs = {"A": start(args.a.resolve(), args), "B": start(args.b.resolve(), args)}
    figures: dict = {}
    print(f"load average at start: {os.getloadavg()}")
    for i in range(args.rounds):
        for kind in args.only.split(","):
            for name in ("AB" if i % 2 == 0 else "BA"):
                proc = procs[name]
                proc.stdin.write(kind + "\n")
                proc.stdin.flush()
                cpu, wall = map(float, proc.stdout.readline().split())
                figures.setdefault((kind, name), []).append((cpu, wall))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait(timeout=120)
    print(f"load average at end: {os.getloadavg()}")
    for kind in args.only.split(","):
        a = [c for c, _ in figures[(kind, "A")]]
        b = [c for c, _ in figures[(kind, "B")]]
        wa = statistics.median(w for _, w in figures[(kind, "A")])
        wb = statistics.median(w for _, w in figures[(kind, "B")])
        ratios = [y / x for x, y in zip(a, b)]
        print(f"{kind}: CPU ms/request A median {statistics.median(a):.2f} (min {min(a):.2f}), B median "
              f"{statistics.median(b):.2f} (min {min(b):.2f}); B/A per round pair median {statistics.median(ratios):.2f}; "
              f"wall A {wa:.2f} ms, B {wb:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
