"""Benchmark of the hourly expiry job: DUE listings due among TOTAL approved listings.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/expiry_reminders.py [TOTAL] [DUE]

PostgreSQL only (rows are generated with generate_series). Creates the rows in the configured
database (use a scratch database!), runs `expiry_reminders_run` once and prints the time of the
run and of a second run (nothing due), plus the plans of the three claim queries. Goal
(docs/benchmarks.md, goal 4): 10,000 due among 1,000,000 in <= 5 s, and the cost independent of TOTAL. The Notification rows and
their `notifications.new` events are written in each batch's transaction (outbox); with a real broker
the sends are one task message per batch, fanned out and sent later by the workers (100 sends/s).
"""
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgt.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from listings.expiry import expiry_reminders_run  # noqa: E402
from listings.models import Listing  # noqa: E402


def main(total: int, due: int) -> None:
    assert connection.vendor == "postgresql", "PostgreSQL only"
    owner, _ = User.objects.get_or_create(username="bench-owner", defaults={"email": "bench@example.com"})
    now = timezone.now()
    Listing.objects.filter(owner=owner).delete()
    third = due // 3
    with connection.cursor() as cur:
        t0 = time.perf_counter()
        # Not due: expiring 4..34 days from now, reminders not yet sent.
        cur.execute("""
            INSERT INTO listings_listing (owner_id, title, description, category, price, status, reason, approved_at,
                expires_at, reminder_sent_3d, reminder_sent_1d, created_at, updated_at)
            SELECT %s, 'bench ' || g, '', 'misc', 100, 'approved', '', %s, %s + (g %% 2592000) * interval '1 second'
                   + interval '4 days', false, false, %s, %s
            FROM generate_series(1, %s) g""", [owner.pk, now, now, now, now, total - due])
        for offset, count in (("-1 hour", third), ("12 hours", third), ("2 days", due - 2 * third)):
            cur.execute("""
                INSERT INTO listings_listing (owner_id, title, description, category, price, status, reason,
                    approved_at, expires_at, reminder_sent_3d, reminder_sent_1d, created_at, updated_at)
                SELECT %s, 'due ' || g, '', 'misc', 100, 'approved', '', %s, %s + %s::interval, false, false, %s, %s
                FROM generate_series(1, %s) g""", [owner.pk, now, now, offset, now, now, count])
        cur.execute("ANALYZE listings_listing")
        print(f"inserted {total} listings ({due} due) in {time.perf_counter() - t0:.1f} s")
        for label, sql in (
            ("expire", "SELECT id FROM listings_listing WHERE status = 'approved' AND expires_at <= %s "
                       "ORDER BY expires_at, id LIMIT 500 FOR UPDATE SKIP LOCKED"),
            ("remind 1d", "SELECT id FROM listings_listing WHERE status = 'approved' AND NOT reminder_sent_1d AND "
                          "expires_at > %s AND expires_at <= %s + interval '1 day' ORDER BY expires_at, id LIMIT 500 "
                          "FOR UPDATE SKIP LOCKED"),
            ("remind 3d", "SELECT id FROM listings_listing WHERE status = 'approved' AND NOT reminder_sent_3d AND "
                          "expires_at > %s AND expires_at <= %s + interval '3 days' ORDER BY expires_at, id LIMIT 500 "
                          "FOR UPDATE SKIP LOCKED"),
        ):
            cur.execute("EXPLAIN " + sql, [now] * sql.count("%s"))
            print(f"plan {label}: " + " | ".join(row[0].strip() for row in cur.fetchall()))
    t0 = time.perf_counter()
    result = expiry_reminders_run(now=now)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = expiry_reminders_run(now=now + timedelta(minutes=1))
    second = time.perf_counter() - t0
    print(f"run 1: {result} in {first:.2f} s; run 2: {again} in {second:.3f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, int(sys.argv[2]) if len(sys.argv) > 2 else 10_000)
