"""Outbox tasks: the follow-up dispatch message and the periodic jobs (dgt.jobs): thin,
idempotent, safe to run twice at once."""
from core.tasks import retrying_task

from .followups import followups_purge, followups_relay, followups_run
from .relay import outbox_purge, relay_run


# No result row (ignore_result; failures are still stored): one per committed transaction with
# follow-ups, and its work is recorded on the follow-up rows (docs/benchmarks.md, notifications).
@retrying_task(name="outbox.tasks.followups_run", acks_late=True, ignore_result=True)
def followups_run_task(*, ids: list[int]) -> int:
    """The one message of a transaction's follow-ups: send each to its task's queue."""
    return followups_run(ids=ids)


@retrying_task(name="outbox.tasks.outbox_relay_run")
def outbox_relay_run() -> dict:
    """Send every due pending outbox row and dispatch every due follow-up (SKIP LOCKED claims)."""
    return {**relay_run(), "followUps": followups_relay()}


@retrying_task(name="outbox.tasks.outbox_purge_run")
def outbox_purge_run() -> dict:
    """Delete sent rows and done follow-ups older than OUTBOX_RETENTION."""
    return {"deleted": outbox_purge(), "followUpsDeleted": followups_purge()}
