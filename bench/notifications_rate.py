"""Benchmark 6 — notification throughput: 5,000 queued notifications, two Celery workers; the
global limit must hold at 100/s +-5% across both.

Two worker processes run the Procfile's `worker` line (own node names) against a bench database
and the bench Redis; 5,000 notifications are recorded through `notifications.recording.
notification_record` (sent by the `notifications` queue). The rate is read from the rows' `sent_at`:
overall, over the middle 90% of sends (steady state), and the busiest 1-second window.
Without a global limiter in this build the script says "not available" (its goal is the
limiter); `--force` measures the unlimited rate anyway. Also reported: how fast the notifications
were recorded (the queue must fill faster than the limit for the rate to mean anything) and the
workers' CPU seconds per send (both workers' process trees, psutil, over the sending window).
`--profile` samples both workers' process trees with py-spy while they send (collapsed stacks in
var/bench/notifications_rate/, the hottest frames in the JSON).
Run: .venv/bin/python bench/notifications_rate.py [--smoke] [--force] [--profile] [--json out.json]
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    NotAvailable, Proc, ProcStats, bench_database, close_django_connections, log_dir, parser, procfile_command,
    pyspy_self_top, pyspy_start, pyspy_top, run_main, server_env,
)

LIMIT = 100.0


def limiter_present() -> str | None:
    """The name of the global notification limit (a setting or module), None when absent."""
    from django.conf import settings

    for name in dir(settings):
        if re.fullmatch(r"NOTIFICATIONS?_\w*(RATE|LIMIT|PER_SECOND)\w*", name):
            return f"settings.{name}"
    for mod in ("limiter", "ratelimit", "rate_limit", "throttle", "rate"):
        if importlib.util.find_spec(f"notifications.{mod}") is not None:
            return f"notifications.{mod}"
    return None


def body(args) -> dict:
    n, workers = (60, 2) if args.smoke else (5000, 2)
    workdir = log_dir("notifications_rate")
    procs = []
    with bench_database("notify", keep=args.keep_db, stop=procs) as db_url:
        limiter = limiter_present()
        if limiter is None and not args.force:
            raise NotAvailable("no global notification rate limit (no NOTIFICATION*_RATE/LIMIT setting, no "
                               "notifications.limiter module); --force measures the unlimited rate")
        from accounts.models import User
        from notifications.models import Notification
        from notifications.recording import notification_record

        # an email address: the email channel is the one every user can receive (no device, no phone)
        User.objects.bulk_create([User(username=f"notify{i:04d}", email=f"notify{i:04d}@bench.invalid", password="!")
                                  for i in range(1000)])
        user_ids = list(User.objects.values_list("id", flat=True))
        close_django_connections()
        base = procfile_command("worker")
        for k in range(workers):
            procs.append(Proc(f"{base} -n bench{k}@%h", env=server_env(db_url), log=workdir / f"worker{k}.log",
                              shell=True))
        time.sleep(8)  # workers connect to the broker before the queue fills
        stats = [ProcStats(p.pid) for p in procs]
        cpu_before = sum(s.cpu_seconds() for s in stats)
        psutil.cpu_percent()  # starts the machine's busy-% window
        profilers = []
        if args.profile:
            seconds = min(60, max(10, n / LIMIT * 0.6))
            profilers = [pyspy_start(p.pid, workdir / f"worker{k}.collapsed", seconds) for k, p in enumerate(procs)]
        started = time.monotonic()
        for i in range(n):
            notification_record(user_id=user_ids[i % len(user_ids)], template_key="listing_approved",
                                 payload={"id": i, "title": f"bench {i}"}, dedupe_key=f"bench:{i}")
        recorded_per_second = n / (time.monotonic() - started)
        # only this run's rows: another run's API benchmark may queue tasks on the same bench Redis
        mine = Notification.objects.filter(dedupe_key__startswith="bench:")
        deadline = time.monotonic() + n / LIMIT * 2 + 90
        done = 0
        while time.monotonic() < deadline:
            done = mine.filter(status__in=["sent", "failed"]).count()
            if done >= n:
                break
            if not all(p.alive() for p in procs):
                raise RuntimeError("a worker exited:\n" + "\n".join(p.log_tail() for p in procs))
            time.sleep(1)
        cpu = sum(s.cpu_seconds() for s in stats) - cpu_before
        machine_busy = psutil.cpu_percent()  # every process on the box, over the sending window
        for prof in profilers:
            prof.p.wait(timeout=120)
        times = sorted(t.timestamp() for t in mine.filter(status="sent").values_list("sent_at", flat=True))
        failed = mine.filter(status="failed").count()
    overall = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None
    lo, hi = int(len(times) * 0.05), int(len(times) * 0.95) - 1
    steady = (hi - lo) / (times[hi] - times[lo]) if hi > lo and times[hi] > times[lo] else None
    busiest, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    met = bool(steady) and abs(steady - LIMIT) <= 0.05 * LIMIT and busiest <= LIMIT * 1.05 and len(times) == n
    print(f"    {len(times)}/{n} sent ({failed} failed) by {workers} workers; overall {overall or 0:.1f}/s, steady "
          f"{steady or 0:.1f}/s, busiest 1 s window {busiest}; limiter: {limiter}; goal {'met' if met else 'NOT met'}")
    print(f"    recorded at {recorded_per_second:.1f}/s; workers' CPU {cpu:.1f} s = {1000 * cpu / max(len(times), 1):.1f} ms "
          f"per send; machine {machine_busy:.0f} % busy while sending; load average {os.getloadavg()[0]:.2f}")
    profile = {}
    if args.profile:
        for k in range(workers):
            collapsed = workdir / f"worker{k}.collapsed"
            profile[f"worker{k}"] = {"top": pyspy_top(collapsed, 60), "self": pyspy_self_top(collapsed, 25)}
            print(f"    profile worker{k}: {collapsed}")
    return {"queued": n, "sent": len(times), "failed": failed, "workers": workers, "overallPerSecond": overall,
            "steadyPerSecond": steady, "busiestSecond": busiest, "limiter": limiter, "goalMet": met,
            "recordedPerSecond": recorded_per_second, "workerCpuSeconds": cpu,
            "workerCpuMsPerSend": 1000 * cpu / max(len(times), 1), "machineBusyPercent": machine_busy,
            "loadAverage": os.getloadavg()[0], "profile": profile,
            "goal": "100/s +-5% across two workers, all sent"}


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--force", action="store_true", help="measure even without a limiter")
    p.add_argument("--profile", action="store_true", help="py-spy both workers' process trees while they send")
    a = p.parse_args()
    sys.exit(run_main("notifications_rate", a, body))
