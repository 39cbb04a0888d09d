"""Row-locking querysets and guarded updates of the listings app (saleor's lock_objects convention)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from .models import Listing, ListingStatus


def listing_qs_select_for_update():
    return Listing.objects.select_for_update(of=("self",))


def listing_decide_if_free(*, listing_id: int, actor_id: int, now: datetime, changes: dict[str, Any]) -> Listing | None:
    """A moderation decision in ONE guarded statement: `UPDATE ... SET <changes>, claim cleared WHERE
    id AND status = pending AND owner <> actor AND the claim is free or the actor's RETURNING *`.

    The row lock the UPDATE takes is the one `listings.claims.moderation_lock` takes, held to the end of
    the caller's transaction, and the guard is `moderation_lock` + `check_pending`'s rule
    (docs/moderation.md: a claim is live while `claimed_until` > `now`, aware UTC): under READ
    COMMITTED PostgreSQL waits for a concurrent change and re-checks the guard on the new row, so two
    decisions, or a decision and another moderator's claim, serialize as they do under the lock.
    Returns the updated listing, or None when no row matched (missing, not pending, the actor's own,
    claimed by another): the caller then takes the lock and raises the error that applies.
    `changes` maps field names to values, saved with each field's own conversion; raises nothing itself.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    qn = connection.ops.quote_name
    meta = Listing._meta
    sets, params = [], []
    for name, value in {**changes, "claimed_by": None, "claimed_until": None}.items():
        field = meta.get_field(name)
        sets.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    claimed_by, claimed_until = qn("claimed_by_id"), qn("claimed_until")
    returning = ", ".join(qn(f.column) for f in meta.concrete_fields)
    sql = (f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} "
           f"WHERE {qn('id')} = %s AND {qn('status')} = %s AND {qn('owner_id')} <> %s"
           f" AND ({claimed_by} IS NULL OR {claimed_by} = %s OR {claimed_until} IS NULL OR {claimed_until} <= %s)"
           f" RETURNING {returning}")
    now_db = meta.get_field("claimed_until").get_db_prep_value(now, connection)
    rows = list(Listing.objects.raw(sql, [*params, listing_id, ListingStatus.PENDING.value, actor_id, actor_id,
                                          now_db], using=DEFAULT_DB_ALIAS))
    return rows[0] if rows else None
