"""Celery tasks of the project app (periodic jobs listed in dgt.jobs)."""
from celery import shared_task

from dgt.backups import database_backup


@shared_task(acks_late=True)
def database_backup_run() -> dict:
    """Daily 03:00: back up the database (dgt.backups.database_backup). Two runs at once write
    two backup files; nothing is lost or overwritten."""
    return database_backup()
