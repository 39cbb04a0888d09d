"""`manage.py runjob <name>` runs one periodic job once, synchronously, and prints its result;
`runjob --list` lists the jobs (dgt.jobs.JOBS)."""
import json

from celery import current_app
from django.core.management.base import BaseCommand, CommandError

from dgt.jobs import JOBS


class Command(BaseCommand):
    help = "Run a periodic job once, now, in this process (see --list)."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="job name, e.g. expiry_reminders")
        parser.add_argument("--list", action="store_true", help="list the jobs and their schedules")

    def handle(self, *args, name=None, list=False, **options):
        if list or not name:
            for job_name, job in JOBS.items():
                self.stdout.write(f"{job_name:24} {job.description}  [{job.task}]")
            return
        job = JOBS.get(name)
        if job is None:
            raise CommandError(f"unknown job {name!r}; known: {', '.join(JOBS)}")
        current_app.loader.import_default_modules()
        task = current_app.tasks.get(job.task)
        if task is None:
            raise CommandError(f"job {name!r}: task {job.task} is not registered")
        result = task.apply(throw=True).result
        self.stdout.write(f"{name}: {json.dumps(result, default=str)}")
