"""Periodic account jobs (dgt/jobs.py)."""
from django.core.management import call_command
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from core.tasks import retrying_task

from .selectors import users_with_expired_block
from .services import user_block_expire


@retrying_task(name="accounts.tasks.auto_unblock_run")
def auto_unblock_run() -> dict:
    """Hourly: lift every block whose blockUntil has passed (one transaction per user, audited).

    Idempotent and safe to run twice at once: each user is re-checked under its row lock.
    Returns `{"checked": n, "unblocked": [user ids]}`.
    """
    ids = list(users_with_expired_block().values_list("pk", flat=True))
    lifted = [user_id for user_id in ids if user_block_expire(user_id=user_id)]
    return {"checked": len(ids), "unblocked": lifted}


@retrying_task(name="accounts.tasks.refresh_tokens_purge")
def refresh_tokens_purge() -> dict:
    """Daily: simplejwt's own `flushexpiredtokens` command deletes the outstanding (and so the
    blacklisted) refresh tokens past their expiry; they can no longer be used, blacklisted or not.
    Idempotent. Returns `{"remaining": n}`, the outstanding token records left."""
    call_command("flushexpiredtokens")
    return {"remaining": OutstandingToken.objects.count()}
