"""Celery tasks of the ops app (periodic jobs listed in dgt.jobs)."""
from core.tasks import retrying_task
from ops.backups import database_backup


# The name predates the move from dgt/tasks.py: beat rows and queued messages carry it.
@retrying_task(name="dgt.tasks.database_backup_run", acks_late=True, max_retries=2, backoff=60)
def database_backup_run() -> dict:
    """Daily 03:00: back up the database (ops.backups.database_backup). Two runs at once write
    two backup files; nothing is lost or overwritten."""
    return database_backup()
