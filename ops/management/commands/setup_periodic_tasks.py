"""`manage.py setup_periodic_tasks`: create or update beat's PeriodicTask rows from dgt.jobs.JOBS
(idempotent; run by `make run` and the Procfile release step). See ops/schedule.py for why."""
from django.core.management.base import BaseCommand

from ops.schedule import periodic_tasks_sync


class Command(BaseCommand):
    help = "Create/update django-celery-beat periodic tasks from dgt.jobs.JOBS and remove ones no longer listed."

    def handle(self, *args, **options):
        result = periodic_tasks_sync()
        self.stdout.write(
            f"periodic tasks: {len(result['created'])} created, {len(result['updated'])} updated, "
            f"{len(result['removed'])} removed" + (f" ({', '.join(result['removed'])})" if result["removed"] else "")
        )
        for task in result["unregistered"]:
            self.stderr.write(self.style.WARNING(f"warning: task {task} is not registered (no worker can run it yet)"))
