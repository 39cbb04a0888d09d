"""Row-locking querysets and guarded updates of the listings app (saleor's lock_objects convention)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from core.compiled import converted, row_converters
from notifications.selectors import channels_of_row, channels_sql

from .models import Listing, ListingStatus


def listing_qs_select_for_update():
    return Listing.objects.select_for_update(of=("self",))


# The guarded UPDATE's SQL and its RETURNING columns' converters, per database alias and changed fields.
_DECIDE: dict[tuple[str, tuple[str, ...]], tuple[str, list, dict]] = {}


def _decide_plan(alias: str, names: tuple[str, ...]) -> tuple[str, list, dict]:
    connection = connections[alias]
    qn = connection.ops.quote_name
    meta = Listing._meta
    sets = ", ".join(f"{qn(meta.get_field(name).column)} = %s" for name in names)
    claimed_by, claimed_until = qn("claimed_by_id"), qn("claimed_until")
    fields = list(meta.concrete_fields)
    update = (f"UPDATE {qn(meta.db_table)} SET {sets} "
              f"WHERE {qn('id')} = %s AND {qn('status')} = %s AND {qn('owner_id')} <> %s"
              f" AND ({claimed_by} IS NULL OR {claimed_by} = %s OR {claimed_until} IS NULL OR {claimed_until} <= %s)"
              f" RETURNING {', '.join(qn(f.column) for f in fields)}")
    if connection.vendor == "postgresql":  # the owner's notification channels read in the same statement
        channels, _params = channels_sql(alias=alias, user_expr=f"d.{qn('owner_id')}")
        update = f"WITH d AS ({update}) SELECT * FROM d LEFT JOIN LATERAL ({channels}) c ON true"
    return update, [f.attname for f in fields], row_converters(fields, meta.db_table, connection)


def listing_decide_if_free(*, listing_id: int, actor_id: int, now: datetime,
                           changes: dict[str, Any]) -> tuple[Listing, list[str] | None] | None:
    """A moderation decision in ONE guarded statement: `UPDATE ... SET <changes>, claim cleared WHERE
    id AND status = pending AND owner <> actor AND the claim is free or the actor's RETURNING *`.

    The row lock the UPDATE takes is the one `listings.claims.moderation_lock` takes, held to the end of
    the caller's transaction, and the guard is `moderation_lock` + `check_pending`'s rule
    (docs/moderation.md: a claim is live while `claimed_until` > `now`, aware UTC): under READ
    COMMITTED PostgreSQL waits for a concurrent change and re-checks the guard on the new row, so two
    decisions, or a decision and another moderator's claim, serialize as they do under the lock.
    Returns (the updated listing, its owner's notification channels), or None when no row matched
    (missing, not pending, the actor's own, claimed by another): the caller then takes the lock and
    raises the error that applies. On PostgreSQL the same statement reads the owner's channels
    (notifications.selectors.channels_sql joined LATERAL); elsewhere they are None (the caller's
    notification_record reads them). `changes` maps field names to values, saved with each field's
    own conversion; raises nothing itself. The SQL is built once per set of changed fields and the
    row read with Django's converters and `Model.from_db` (no RawQuerySet per call; docs/benchmarks.md).
    """
    connection = connections[DEFAULT_DB_ALIAS]
    changes = {**changes, "claimed_by": None, "claimed_until": None}
    key = (DEFAULT_DB_ALIAS, tuple(changes))
    plan = _DECIDE.get(key)
    if plan is None:
        plan = _DECIDE[key] = _decide_plan(*key)
    sql, attnames, converters = plan
    meta = Listing._meta
    params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in changes.items()]
    now_db = meta.get_field("claimed_until").get_db_prep_value(now, connection)
    params += [listing_id, ListingStatus.PENDING.value, actor_id, actor_id, now_db]
    postgres = connection.vendor == "postgresql"
    if postgres:
        params += channels_sql(alias=DEFAULT_DB_ALIAS, user_expr=f"d.{connection.ops.quote_name('owner_id')}")[1]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(attnames)
    listing_row = row[:width]
    listing = Listing.from_db(DEFAULT_DB_ALIAS, attnames,
                              converted(listing_row, converters, connection) if converters else listing_row)
    if not postgres:
        return listing, None
    channels = row[width:]
    # No channel row: the owner's account is inactive (the channels query reads active users only).
    return listing, (channels_of_row(channels, DEFAULT_DB_ALIAS) if channels[0] is not None else [])
