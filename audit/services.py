"""Writing audit rows. Call inside the transaction of the change being audited."""
from __future__ import annotations

from typing import Any

from core.compiled import CompiledInsert
from core.context import current

from .models import AuditLog

# A new row only (the INSERT's SQL built once; AuditLog.save's guard is for changes of existing rows).
_INSERT = CompiledInsert(AuditLog)


def audit_record(
    *,
    action: str,
    entity_type: str,
    entity_id: Any,
    user,
    reason: str = "",
    metadata: dict | None = None,
) -> AuditLog:
    """Write one AuditLog row with the current request's id and client IP.

    `action` is a dotted verb such as "listing.approve"; `entity_id` is stored as text.
    Must run inside the caller's `transaction.atomic()` so the row exists only if the change does.
    Returns the saved row; one INSERT (core.compiled.CompiledInsert: no save(), no signals).
    """
    ctx = current()
    row = AuditLog(action=action, entity_type=entity_type, entity_id=str(entity_id), user=user, reason=reason or "",
                   metadata=metadata or {}, ip_address=ctx.ip_address, request_id=ctx.request_id)
    return _INSERT.insert([row])[0]
