"""Celery tasks of the listings app (thin: the work is in listings.expiry)."""
from celery import shared_task

from .expiry import expiry_reminders_run as _expiry_reminders_run


@shared_task
def expiry_reminders_run() -> dict:
    """Hourly (dgt.jobs `expiry_reminders`): expire due listings and send the 3-day and 1-day
    reminders, once each. Safe to run twice at once. Returns the counts of what it did."""
    return _expiry_reminders_run()
