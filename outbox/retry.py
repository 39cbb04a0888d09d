"""Admin retry of a failed outbox row (`POST /api/admin/outbox/{id}/retry`, the admin action).

Kept apart from outbox.services (publishing) because it drives the relay: the relay raises
`admin.alert`s through outbox.alerts, which publishes through outbox.services (docs/realtime.md).
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.errors import Conflict, ErrorCode, NotFound

from . import runtime
from .models import EventOutbox, OutboxStatus
from .relay import relay_run

log = logging.getLogger(__name__)


@transaction.atomic
def outbox_retry(*, outbox_id: int, actor) -> EventOutbox:
    """Put a failed row back to pending, due now, with its attempts reset; the relay sends it.

    Audited as `outbox.retry`. Raises NotFound for an unknown id, Conflict (409) when the row
    is not failed (pending rows are retried anyway; sent rows need no retry).
    """
    row = EventOutbox.objects.select_for_update().filter(pk=outbox_id).first()
    if row is None:
        raise NotFound("Outbox row not found.")
    if row.status != OutboxStatus.FAILED:
        raise Conflict(f"Outbox row {row.pk} is {row.status}; only failed rows can be retried.",
                       code=ErrorCode.INVALID_TRANSITION)
    previous = {"attempts": row.attempts, "lastError": row.last_error}
    row.status = OutboxStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = timezone.now()
    row.save(update_fields=["status", "attempts", "next_attempt_at"])
    audit_record(action="outbox.retry", entity_type="outbox", entity_id=row.pk, user=actor, metadata=previous)
    if runtime.may_send():
        transaction.on_commit(lambda: _retry_now(row.pk))
    return row


def _retry_now(outbox_id: int) -> None:
    """Hand a retried row to the relay at once rather than waiting for the next beat tick."""
    try:
        relay_run(max_batches=1)
    except Exception as exc:  # the periodic relay picks it up
        log.warning("relay after retry of %s failed: %s", outbox_id, exc)
