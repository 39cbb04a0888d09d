"""The periodic jobs of dgt: one table for beat's schedule and for `manage.py runjob`.

Each job is a Celery task that is idempotent and safe to run twice at once, and returns a small
dict saying what it did (printed by runjob). Times are Asia/Kolkata (CELERY_TIMEZONE).
"""
from __future__ import annotations

from dataclasses import dataclass

from celery.schedules import crontab


@dataclass(frozen=True)
class Job:
    task: str
    schedule: crontab
    description: str


JOBS: dict[str, Job] = {
    "expiry_reminders": Job("listings.tasks.expiry_reminders_run", crontab(minute=0),
                            "hourly: 3-day and 1-day expiry reminders, expire listings at expiresAt"),
    "payout_reconciliation": Job("wallet.tasks.payout_reconciliation_run", crontab(hour=2, minute=0),
                                 "daily 02:00: reconcile payouts with the gateway"),
    "topup_reconciliation": Job("wallet.tasks.topup_reconciliation_run", crontab(minute=20),
                                "hourly: credit top-up orders whose captured payment reached neither verify nor webhook"),
    "outbox_relay": Job("outbox.tasks.outbox_relay_run", crontab(),
                        "every minute: send due pending outbox rows, with backoff"),
    "database_backup": Job("dgt.tasks.database_backup_run", crontab(hour=3, minute=0),
                           "daily 03:00: database backup (django-dbbackup)"),
    "auto_unblock": Job("accounts.tasks.auto_unblock_run", crontab(minute=5),
                        "hourly: lift blocks whose blockUntil has passed"),
    "idempotency_purge": Job("wallet.tasks.idempotency_keys_purge", crontab(hour=4, minute=0),
                             "daily 04:00: purge idempotency keys older than 24 h"),
    "refresh_tokens_purge": Job("accounts.tasks.refresh_tokens_purge", crontab(hour=4, minute=45),
                                "daily 04:45: delete expired refresh-token records (token blacklist)"),
    "outbox_purge": Job("outbox.tasks.outbox_purge_run", crontab(hour=4, minute=30),
                        "daily 04:30: purge sent outbox rows older than OUTBOX_RETENTION"),
    "notifications_sweep": Job("notifications.tasks.notifications_sweep_run", crontab(),
                               "every minute: queue again notifications left queued (lost task message); alert on ones stuck in sending"),
}


def beat_schedule() -> dict:
    return {name: {"task": job.task, "schedule": job.schedule} for name, job in JOBS.items()}
