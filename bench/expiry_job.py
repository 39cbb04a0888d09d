"""Benchmark 4 — expiry job cost: `manage.py runjob expiry_reminders` over 100,000 and 1,000,000
listings with the same number (10,000) due.

The due listings are approved and split three ways: 4,000 expire in 60 h (3-day reminder due),
3,000 in 20 h (1-day reminder due), 3,000 expired an hour ago (to be expired). Every other
listing is approved and expires in 30-90 days (nothing due). The 1M run uses a fresh set of
10,000 due listings (the first set is moved 120 days out), so neither run finds work already done.
The job is timed in this process, as `manage.py runjob expiry_reminders` runs it (the task applied
synchronously); the start-up of `manage.py` itself is timed apart (`runjob --list`) and not counted.
Goal (docs/benchmarks.md, goal 4): the 1M run <= 1.3 x the 100k run, and <= 5 s for 10,000 due listings.
Run: .venv/bin/python bench/expiry_job.py [--smoke] [--json out.json]
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT, VENV_BIN, bench_database, close_django_connections, parser, run_main, server_env, sql_fill,
    task_or_unavailable,
)


def runjob(db_url: str, *argv: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run([str(VENV_BIN / "python"), "manage.py", "runjob", *argv], cwd=ROOT, env=server_env(db_url),
                         capture_output=True, text=True, timeout=1800)
    secs = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"runjob {' '.join(argv)} failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    return secs, out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def fill(n_quiet: int, n_due: int, start: int) -> None:
    """`n_quiet` listings with nothing due and `n_due` due ones (ids of rows follow `start`)."""
    from django.db import connection

    from accounts.models import User
    from listings.models import Listing

    owners = list(User.objects.values_list("id", flat=True))
    lo, hi = min(owners), max(owners)
    base = {"owner": f"{lo} + (g % {hi - lo + 1})", "title": "'bench listing ' || g", "description": "'bench'",
            "category": "'misc'", "price": "100.00", "status": "'approved'", "reason": "''",
            "approved_at": "now() - interval '1 day'", "reminder_sent_3d": "false", "reminder_sent_1d": "false",
            "created_at": "now() - interval '1 day'", "updated_at": "now() - interval '1 day'"}
    sql_fill(Listing, n_quiet, base | {"expires_at": "now() + interval '30 days' + (g % 60) * interval '1 day'"},
             start=start)
    d3, d1 = int(n_due * 0.4), int(n_due * 0.3)
    sql_fill(Listing, d3, base | {"expires_at": "now() + interval '60 hours'"}, start=start + n_quiet)
    sql_fill(Listing, d1, base | {"expires_at": "now() + interval '20 hours'", "reminder_sent_3d": "true"},
             start=start + n_quiet + d3)
    sql_fill(Listing, n_due - d3 - d1, base | {"expires_at": "now() - interval '1 hour'", "reminder_sent_3d": "true",
                                               "reminder_sent_1d": "true"}, start=start + n_quiet + d3 + d1)
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {Listing._meta.db_table}")


def body(args) -> dict:
    sizes, due = ((2000, 20000), 200) if args.smoke else ((100_000, 1_000_000), 10_000)
    with bench_database("expiry", keep=args.keep_db) as db_url:
        task = task_or_unavailable("listings.tasks.expiry_reminders_run", "expiry reminders job (runjob expiry_reminders)")
        from accounts.models import User
        from listings.models import Listing

        User.objects.bulk_create([User(username=f"owner{i:04d}", password="!") for i in range(1000)])
        startup, _ = runjob(db_url, "--list")
        runs = []
        filled = 0
        for size in sizes:
            if runs:  # move the previous due set out of reach, so this run finds 10,000 fresh ones
                Listing.objects.filter(expires_at__lt=time_in_days(10)).update(
                    status="approved", expires_at=time_in_days(120), expired_at=None)
            fill(size - filled - due, due, start=filled)
            filled = size
            close_django_connections()
            t0 = time.perf_counter()
            out = str(task.apply(throw=True).get())
            secs = time.perf_counter() - t0
            rows = Listing.objects.count()
            runs.append({"listings": rows, "due": due, "seconds": round(secs, 2), "output": out[:300]})
            print(f"    {rows:,} listings, {due:,} due: runjob expiry_reminders {secs:.2f} s  ({out[:120]})", flush=True)
    ratio = runs[1]["seconds"] / runs[0]["seconds"]
    met = ratio <= 1.3 and runs[1]["seconds"] <= 5
    print(f"    1M / 100k = {ratio:.2f} (goal <= 1.3); start-up of manage.py {startup:.2f} s; goal {'met' if met else 'NOT met'}")
    return {"runs": runs, "ratio": ratio, "startupSeconds": round(startup, 2), "goalMet": met,
            "goal": "1M run <= 1.3 x the 100k run and <= 5 s"}


def time_in_days(days: float):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() + timedelta(days=days)


if __name__ == "__main__":
    a = parser(__doc__.splitlines()[0]).parse_args()
    sys.exit(run_main("expiry_job", a, body))
