"""Periodic account jobs (dgt/jobs.py)."""
from celery import shared_task

from .selectors import users_with_expired_block
from .services import user_block_expire


@shared_task(name="accounts.tasks.auto_unblock_run")
def auto_unblock_run() -> dict:
    """Hourly: lift every block whose blockUntil has passed (one transaction per user, audited).

    Idempotent and safe to run twice at once: each user is re-checked under its row lock.
    Returns `{"checked": n, "unblocked": [user ids]}`.
    """
    ids = list(users_with_expired_block().values_list("pk", flat=True))
    lifted = [user_id for user_id in ids if user_block_expire(user_id=user_id)]
    return {"checked": len(ids), "unblocked": lifted}
