"""`manage.py setup_periodic_tasks`: beat's rows from dgt.jobs.JOBS, idempotent, stale rows removed."""
from io import StringIO

import pytest
from celery.schedules import crontab
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from dgt import jobs
from ops import schedule
from dgt.jobs import JOBS, Job

pytestmark = pytest.mark.django_db


def run() -> str:
    out = StringIO()
    call_command("setup_periodic_tasks", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_rows_match_jobs_and_a_second_run_changes_nothing():
    assert run().startswith(f"periodic tasks: {len(JOBS)} created, 0 updated, 0 removed")
    rows = {t.name: t for t in PeriodicTask.objects.select_related("crontab")}
    assert set(rows) == set(JOBS)
    backup = rows["database_backup"]
    assert backup.task == "dgt.tasks.database_backup_run" and backup.enabled
    assert (backup.crontab.minute, backup.crontab.hour, str(backup.crontab.timezone)) == ("0", "3", "Asia/Kolkata")
    assert rows["outbox_relay"].crontab.minute == "*" and rows["outbox_relay"].crontab.hour == "*"
    assert backup.description.startswith(schedule.MARK)
    snapshot = sorted(PeriodicTask.objects.values_list("name", "task", "crontab_id", "description", "enabled"))
    crontabs = CrontabSchedule.objects.count()

    assert run().startswith(f"periodic tasks: 0 created, {len(JOBS)} updated, 0 removed")
    assert sorted(PeriodicTask.objects.values_list("name", "task", "crontab_id", "description", "enabled")) == snapshot
    assert CrontabSchedule.objects.count() == crontabs


def test_admin_pause_is_kept_and_stale_jobs_are_removed(monkeypatch):
    run()
    PeriodicTask.objects.filter(name="auto_unblock").update(enabled=False)  # paused in the admin
    by_hand = PeriodicTask.objects.create(name="hand made", task="celery.backend_cleanup",
                                          crontab=CrontabSchedule.objects.first())
    renamed = {("unblock_users" if k == "auto_unblock" else k): v for k, v in JOBS.items()}
    monkeypatch.setattr(schedule, "JOBS", renamed)

    assert "1 removed (auto_unblock)" in run()

    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert names == set(renamed) | {by_hand.name}
    monkeypatch.setattr(schedule, "JOBS", JOBS)
    run()
    assert PeriodicTask.objects.get(name="auto_unblock").enabled  # a new row (the old one was removed)
    PeriodicTask.objects.filter(name="outbox_relay").update(enabled=False)
    run()
    assert not PeriodicTask.objects.get(name="outbox_relay").enabled


def test_unregistered_tasks_are_reported(monkeypatch):
    monkeypatch.setattr(schedule, "JOBS", {**JOBS, "typo": Job("dgt.tasks.no_such_task", crontab(minute=1), "x")})
    err = StringIO()
    call_command("setup_periodic_tasks", stdout=StringIO(), stderr=err)
    assert "task dgt.tasks.no_such_task is not registered" in err.getvalue()
    assert jobs.JOBS is JOBS
