"""The Celery app of dgt and its beat schedule (the one place periodic jobs are declared).

django-celery-beat's DatabaseScheduler copies `beat_schedule` into its tables at start-up, so
the schedule below is created idempotently wherever beat runs. Times are Asia/Kolkata.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgt.settings")

app = Celery("dgt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import core.worker  # noqa: E402,F401  (the worker's connections between tasks: Django's CONN_MAX_AGE rule)

from dgt.jobs import beat_schedule  # noqa: E402

app.conf.beat_schedule = beat_schedule()
