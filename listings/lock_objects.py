"""Row-locking querysets and guarded updates of the listings app (saleor's lock_objects convention)."""
from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from .models import Listing, ListingStatus


def listing_qs_select_for_update():
    return Listing.objects.select_for_update(of=("self",))


def listing_update_if_pending(*, listing_id: int, not_owner_id: int, changes: dict[str, Any]) -> Listing | None:
    """One guarded statement: `UPDATE ... WHERE id AND status = pending AND owner <> not_owner_id
    RETURNING *` (row-locked until the caller's transaction ends). The updated listing, or None
    when no row matched (missing, not pending, or owned by `not_owner_id`): the caller then locks
    the row and says why. Under READ COMMITTED a concurrent change is waited for and the guard
    re-checked on the new row (PostgreSQL), so two approvals of one listing cannot both match.
    `changes` maps field names to values (saved as the ORM would: the field's own conversion).
    """
    connection = connections[DEFAULT_DB_ALIAS]
    qn = connection.ops.quote_name
    meta = Listing._meta
    sets, params = [], []
    for name, value in changes.items():
        field = meta.get_field(name)
        sets.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    returning = ", ".join(qn(f.column) for f in meta.concrete_fields)
    sql = (f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} "
           f"WHERE {qn('id')} = %s AND {qn('status')} = %s AND {qn('owner_id')} <> %s RETURNING {returning}")
    rows = list(Listing.objects.raw(sql, [*params, listing_id, ListingStatus.PENDING.value, not_owner_id],
                                    using=DEFAULT_DB_ALIAS))
    return rows[0] if rows else None
