"""ORM reads of one row by a unique key, or of a page of rows, compiled to SQL once per process
(docs/benchmarks.md, "Request path: no after-commit work in the request").

Django compiles a QuerySet to SQL on every evaluation: for the user row that authentication reads on
every API request (with the wallet joined for GET /api/wallet) that was ~180 us of the ~360 us the
read cost, against ~60 us for running the SQL. `CompiledGet` compiles the query once per database
alias, with stand-in values, and then runs the same SQL with each call's values, building the
instance (and its `select_related` rows) with Django's own `from_db`, field converters and related
populators, so the object is the one `QuerySet.get()` returns. `CompiledRows` does the same for a
page of `values_list()` rows (GET /api/listings; docs/benchmarks.md, "Per-request overhead").
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from django.db import connections, router
from django.db.models import QuerySet
from django.db.models.query import get_related_populators

# Stand-ins for the caller's values while compiling: integers no id ever takes (ids are positive).
_STAND_INS = tuple(-7_301_911_000_000 - i for i in range(8))


class _Plan(NamedTuple):
    sql: str
    params: tuple
    positions: tuple[int, ...]  # where each caller value goes in `params`
    converters: dict  # Django's field converters by column
    init_list: Sequence[str] = ()  # CompiledGet: the model's columns, from_db's field names
    start: int = 0
    end: int = 0
    populators: Sequence = ()  # CompiledGet: select_related rows


class _Compiled:
    """What CompiledGet and CompiledRows share: a plan per database alias, compiled on first use
    with stand-in values, then run with each call's values and its rows converted."""

    def __init__(self, model: type, build: Callable[..., QuerySet]):
        self.model = model
        self.build = build
        self.plans: dict[tuple[str, int, bool], _Plan] = {}

    def _plan(self, alias: str, arity: int, windowed: bool = False) -> _Plan:
        raise NotImplementedError

    def _compiler(self, alias: str, arity: int):
        """(compiler, sql, params, positions) of `build` with stand-ins; ValueError as documented."""
        stand_ins = _STAND_INS[:arity]
        query = self.build(*stand_ins).using(alias).query
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = tuple(params)
        # A text field's filter receives the stand-in as text (the field's get_prep_value).
        found = [[i for i, p in enumerate(params) if p == s or p == str(s)] for s in stand_ins]
        if any(len(where) != 1 for where in found):
            raise ValueError("each value must appear exactly once in the query's parameters")
        return compiler, sql, params, tuple(where[0] for where in found)

    def _run(self, values: tuple, extra: tuple = (), *, windowed: bool = False) -> tuple[_Plan, Any, list[tuple]]:
        """(plan, connection, rows) of the query for `values` (+ `extra` parameters at the end)."""
        alias = router.db_for_read(self.model)
        key = (alias, len(values), windowed)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self._plan(alias, len(values), windowed)
        params = list(plan.params)
        for position, value in zip(plan.positions, values):
            params[position] = value
        params += extra
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        return plan, connection, rows


def row_converters(fields: Sequence, table: str, connection) -> dict:
    """Django's converters (the backend's, then the field's) for a row of `fields` (concrete fields
    of the model whose table is `table`, in that order) read by hand-written SQL, keyed by position
    as `converted` takes them; empty when no column needs one (most on PostgreSQL)."""
    converters = {}
    for pos, field in enumerate(fields):
        col = field.get_col(table)
        convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if convs:
            converters[pos] = (convs, col)
    return converters


def converted(row: tuple, converters: dict, connection) -> list:
    """`row` with Django's field converters applied (as SQLCompiler.apply_converters)."""
    row = list(row)
    for pos, (convs, expression) in converters.items():
        value = row[pos]
        for convert in convs:
            value = convert(value, expression, connection)
        row[pos] = value
    return row


class CompiledGet(_Compiled):
    """`CompiledGet(model, build)`: `build(*values)` returns a QuerySet of `model` selecting AT MOST
    ONE row (a filter on a primary or unique key) with `values` in its filters, each exactly once and
    passed to the database as they are (integers: ids). `get(*values)` returns the instance, or
    raises `model.DoesNotExist`. The database is the one the router picks for a read of `model` at
    call time (core.db). Only for plain filters whose SQL does not depend on the values (no `__in`
    lists, no None). Raises ValueError when compiling finds a value missing or repeated."""

    def _plan(self, alias: str, arity: int, windowed: bool = False) -> _Plan:
        compiler, sql, params, positions = self._compiler(alias, arity)
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Plan(sql=sql, params=params, positions=positions,
                     converters=compiler.get_converters([s[0] for s in select[:compiler.col_count]]),
                     init_list=[s[0].target.attname for s in select[start:end]], start=start, end=end,
                     populators=get_related_populators(klass_info, select, alias))

    def get(self, *values: Any):
        """The instance whose key is `values` (one SQL statement); raises `model.DoesNotExist`."""
        plan, connection, rows = self._run(values)
        if not rows:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} matching query does not exist.")
        row = converted(rows[0], plan.converters, connection) if plan.converters else rows[0]
        obj = self.model.from_db(connection.alias, plan.init_list, row[plan.start:plan.end])
        for populator in plan.populators:
            populator.populate(row, obj)
        return obj


class CompiledRows(_Compiled):
    """`CompiledRows(model, build, max_arity=8)`: `build(*values)` returns a `values_list()` QuerySet
    of `model` whose SQL depends only on HOW MANY values it gets (`filter(owner_id=v)`,
    `filter(pk__in=values)`), each value appearing exactly once in its parameters, and no slice.
    `rows(*values)` returns its rows as tuples, `rows(*values, limit=, offset=)` that window of them
    (`LIMIT %s OFFSET %s` appended; the query must then be ordered), with Django's field converters
    applied (a boolean is a bool on SQLite too), from SQL compiled once per database alias, number
    of values and windowing: no QuerySet building or compiling per call (docs/benchmarks.md,
    "Approve and refund: fewer statements", "Per-request overhead"). More than `max_arity` (at
    most 8) values are evaluated by the ORM as usual. The database is the router's read database
    for `model` at call time. Raises ValueError when compiling finds a value missing or repeated,
    or the query sliced."""

    def __init__(self, model: type, build: Callable[..., QuerySet], *, max_arity: int = 8):
        super().__init__(model, build)
        self.max_arity = min(max_arity, len(_STAND_INS))

    def _plan(self, alias: str, arity: int, windowed: bool = False) -> _Plan:
        if self.build(*_STAND_INS[:arity]).query.is_sliced:
            raise ValueError("the query must not be sliced: rows() adds the window")
        compiler, sql, params, positions = self._compiler(alias, arity)
        return _Plan(sql=f"{sql} LIMIT %s OFFSET %s" if windowed else sql, params=params, positions=positions,
                     converters=compiler.get_converters([s[0] for s in compiler.select[:compiler.col_count]]))

    def fragment(self, alias: str, *exprs: str) -> tuple[str, list]:
        """(sql, params) of the query for `len(exprs)` values with each value's placeholder replaced
        by the SQL expression of the same position in `exprs` (e.g. a column of the caller's own
        statement, to join the query LATERAL), and its other parameters; built once per alias and
        expressions. Its rows are converted by the caller (`converters(alias, arity)`)."""
        key = (alias, len(exprs), ("fragment", *exprs))
        plan = self.plans.get(key)
        if plan is None:
            base = self._plan(alias, len(exprs))
            by_param = dict(zip(base.positions, exprs))
            pieces, param = [], 0
            for piece in re.split(r"(%%|%s)", base.sql):
                if piece == "%s":
                    piece = by_param.get(param, piece)
                    param += 1
                pieces.append(piece)
            params = tuple(p for i, p in enumerate(base.params) if i not in by_param)
            plan = self.plans[key] = base._replace(sql="".join(pieces), params=params, positions=())
        return plan.sql, list(plan.params)

    def converters(self, alias: str, arity: int) -> dict:
        """Django's converters of the query's columns for `arity` values (see `converted`)."""
        key = (alias, arity, False)
        if key not in self.plans:
            self.plans[key] = self._plan(alias, arity)
        return self.plans[key].converters

    def rows(self, *values: Any, limit: int | None = None, offset: int = 0) -> list[tuple]:
        """The rows for `values` (one SQL statement), or rows `offset` to `offset + limit`
        (exclusive) of them when `limit` is given."""
        if not values or len(values) > self.max_arity:
            qs = self.build(*values) if values else self.model.objects.none()
            return list(qs if limit is None else qs[offset:offset + limit])
        windowed = limit is not None
        plan, connection, rows = self._run(values, (int(limit), int(offset)) if windowed else (), windowed=windowed)
        if plan.converters:
            return [tuple(converted(row, plan.converters, connection)) for row in rows]
        return rows


class CompiledInsert:
    """`CompiledInsert(model)`: `insert(objs)` writes new, unsaved `objs` of `model` with ONE
    `INSERT .. VALUES (..), (..) RETURNING <pk>` whose SQL is built once per database alias and row
    count (up to `max_rows`; more rows go through `bulk_create`), then sets each object's primary key
    and marks it saved, as `bulk_create` does. Every concrete field but the auto primary key is
    written: `auto_now_add` fields take now (aware UTC) through the field's own `pre_save`, values
    are converted by the field (`get_db_prep_save`). Runs no `save()`, no signals, no validation:
    only for rows the caller builds complete (outbox, follow-up and audit rows). The database is the
    one the router picks for a write. Raises what the INSERT raises (IntegrityError)."""

    def __init__(self, model: type, *, max_rows: int = 16):
        self.model = model
        self.max_rows = max_rows
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.sql: dict[tuple[str, int], str] = {}

    def _sql(self, alias: str, rows: int) -> str:
        qn = connections[alias].ops.quote_name
        columns = ", ".join(qn(f.column) for f in self.fields)
        one = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        return (f"INSERT INTO {qn(self.model._meta.db_table)} ({columns}) VALUES {', '.join([one] * rows)} "
                f"RETURNING {qn(self.model._meta.pk.column)}")

    def insert(self, objs: list, *, at_once: bool = False) -> list:
        """Write `objs` (a list of unsaved instances) and return them with their primary keys.
        Inside `inserts_together` on PostgreSQL the rows are queued instead and have no primary
        key until that block ends, unless `at_once` (the caller reads the keys now)."""
        if not objs:
            return objs
        if len(objs) > self.max_rows:
            return self.model._base_manager.bulk_create(objs)
        alias = router.db_for_write(self.model)
        connection = connections[alias]
        queued = getattr(connection, "_dgt_inserts", None)
        if queued is not None and not at_once:
            queued.setdefault(self, []).extend(objs)
            return objs
        key = (alias, len(objs))
        sql = self.sql.get(key)
        if sql is None:
            sql = self.sql[key] = self._sql(alias, len(objs))
        with connection.cursor() as cursor:
            cursor.execute(sql, self._params(objs, connection))
            pks = cursor.fetchall()
        _keys_set(objs, [pk for (pk,) in pks], alias)
        return objs

    def _params(self, objs: list, connection) -> list:
        fields = self.fields
        return [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]


def _keys_set(objs: list, pks: list, alias: str) -> None:
    for obj, pk in zip(objs, pks):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


# The SQL of `inserts_together`'s statement, per database alias and (table's CompiledInsert, rows) sequence.
_TOGETHER_SQL: dict[tuple, str] = {}


@contextmanager
def inserts_together(using: str = "default") -> Iterator[None]:
    """Write every `CompiledInsert.insert` made inside the block on database `using` -- by the
    caller or by the services it calls -- with ONE statement when the block ends, still inside the
    caller's transaction (use it within `transaction.atomic`): on PostgreSQL a `WITH` of one
    `INSERT .. VALUES .. RETURNING <pk>` per table (a table's rows in the order they were queued,
    so their keys ascend in that order), then the primary keys are set on the objects. Until the
    block ends a queued object has no primary key: use it only for rows whose keys the block does
    not read (outbox, follow-up and audit rows; docs/benchmarks.md). An exception leaving the block
    writes none of them (the caller's transaction rolls back with it); do not catch one from a
    nested `atomic` inside the block: rows queued in that rolled-back savepoint would still be
    written. A nested block joins the outer one. Other databases (SQLite) write each insert at once,
    as outside the block. Raises what the INSERTs raise (IntegrityError) when the block ends."""
    connection = connections[using]
    if connection.vendor != "postgresql" or getattr(connection, "_dgt_inserts", None) is not None:
        yield
        return
    queued: dict[CompiledInsert, list] = {}
    connection._dgt_inserts = queued
    try:
        yield
    finally:
        connection._dgt_inserts = None
    _write_together(connection, queued)


def _write_together(connection, queued: dict[CompiledInsert, list]) -> None:
    groups = []
    for insert, objs in queued.items():
        if len(objs) > insert.max_rows:  # a job's many rows: bulk_create
            insert.insert(objs)
        elif objs:
            groups.append((insert, objs))
    if len(groups) <= 1:
        for insert, objs in groups:
            insert.insert(objs)
        return
    key = (connection.alias, tuple((insert, len(objs)) for insert, objs in groups))
    sql = _TOGETHER_SQL.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        parts = [f"t{i} AS ({insert._sql(connection.alias, len(objs))})" for i, (insert, objs) in enumerate(groups)]
        selects = " UNION ALL ".join(f"SELECT {i}, {qn(insert.model._meta.pk.column)} FROM t{i}"
                                     for i, (insert, _objs) in enumerate(groups))
        sql = _TOGETHER_SQL[key] = f"WITH {', '.join(parts)} {selects}"
    params = [p for insert, objs in groups for p in insert._params(objs, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    keys: list[list] = [[] for _ in groups]
    for i, pk in returned:
        keys[i].append(pk)
    for (_insert, objs), pks in zip(groups, keys):
        _keys_set(objs, sorted(pks), connection.alias)  # one INSERT's keys ascend in its rows' order
