"""Periodic task rows for django-celery-beat's DatabaseScheduler, from dgt.jobs.JOBS.

beat itself upserts `app.conf.beat_schedule` (built from the same JOBS) when it starts, so the
jobs run without this module. `periodic_tasks_sync` (run by `manage.py setup_periodic_tasks`
from `make run` and the Procfile release step) adds what beat cannot:

* the rows exist right after a deploy, before beat first starts, so admins see and can pause
  the jobs in Django admin (Periodic tasks);
* a job removed or renamed in JOBS loses its row. beat never deletes rows, and a stale row
  keeps sending a task that no worker knows any more. Only rows this function created (their
  description starts with MARK) are removed; rows added by hand in the admin are left alone;
* it warns about jobs whose task is not registered (a typo in JOBS, a missing tasks module).

An admin's `enabled` switch is kept: neither this function nor beat's upsert touches it.
"""
from __future__ import annotations

from celery import current_app
from django.db import transaction
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import ModelEntry

from dgt.jobs import JOBS

MARK = "[dgt.jobs] "


@transaction.atomic
def periodic_tasks_sync() -> dict:
    """Upsert one PeriodicTask per JOBS entry (same rows as beat's DatabaseScheduler writes:
    crontab in CELERY_TIMEZONE) and delete this function's rows for jobs no longer in JOBS.

    Returns {"created": [names], "updated": [names], "removed": [names], "unregistered": [task names]}.
    Idempotent: a second run reports every job under "updated" and changes nothing.
    """
    current_app.loader.import_default_modules()
    existing = set(PeriodicTask.objects.filter(name__in=JOBS).values_list("name", flat=True))
    for name, job in JOBS.items():
        ModelEntry.from_entry(name, app=current_app, task=job.task, schedule=job.schedule)
        PeriodicTask.objects.filter(name=name).update(description=MARK + job.description)
    stale = PeriodicTask.objects.filter(description__startswith=MARK).exclude(name__in=JOBS)
    removed = sorted(stale.values_list("name", flat=True))
    for task in stale:
        task.delete()  # one by one, so django-celery-beat's signals tell a running beat
    PeriodicTasks.update_changed()
    return {
        "created": sorted(set(JOBS) - existing),
        "updated": sorted(existing),
        "removed": removed,
        "unregistered": sorted({job.task for job in JOBS.values()} - set(current_app.tasks)),
    }
