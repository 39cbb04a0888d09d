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

from collections.abc import Callable, Sequence
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
        self.plans: dict[str, _Plan] = {}

    def _plan(self, alias: str, arity: int) -> _Plan:
        raise NotImplementedError

    def _compiler(self, alias: str, arity: int):
        """(compiler, sql, params, positions) of `build` with stand-ins; ValueError as documented."""
        stand_ins = _STAND_INS[:arity]
        query = self.build(*stand_ins).using(alias).query
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = tuple(params)
        if any(params.count(s) != 1 for s in stand_ins):
            raise ValueError("each value must appear exactly once in the query's parameters")
        return compiler, sql, params, tuple(params.index(s) for s in stand_ins)

    def _run(self, values: tuple, extra: tuple = ()) -> tuple[_Plan, Any, list[tuple]]:
        """(plan, connection, rows) of the query for `values` (+ `extra` parameters at the end)."""
        alias = router.db_for_read(self.model)
        plan = self.plans.get(alias)
        if plan is None:
            plan = self.plans[alias] = self._plan(alias, len(values))
        params = list(plan.params)
        for position, value in zip(plan.positions, values):
            params[position] = value
        params += extra
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        return plan, connection, rows


def _converted(row: tuple, converters: dict, connection) -> list:
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

    def _plan(self, alias: str, arity: int) -> _Plan:
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
        row = _converted(rows[0], plan.converters, connection) if plan.converters else rows[0]
        obj = self.model.from_db(connection.alias, plan.init_list, row[plan.start:plan.end])
        for populator in plan.populators:
            populator.populate(row, obj)
        return obj


class CompiledRows(_Compiled):
    """`CompiledRows(model, build)`: `build(*values)` returns an ordered `values_list()` QuerySet of
    `model` with `values` in its filters, each exactly once, and no slice. `rows(*values, limit=,
    offset=)` returns that window of its rows as tuples (the field converters applied, as
    `values_list()` returns them), from SQL compiled once per database alias with `LIMIT %s OFFSET
    %s` appended: a page of a list costs no QuerySet building or compiling (docs/benchmarks.md,
    "Per-request overhead"). The database is the router's read database for `model` at call time.
    Same restrictions as `CompiledGet`; raises ValueError when compiling finds a value missing or
    repeated, or the query sliced."""

    def _plan(self, alias: str, arity: int) -> _Plan:
        if self.build(*_STAND_INS[:arity]).query.is_sliced:
            raise ValueError("the query must not be sliced: rows() adds the window")
        compiler, sql, params, positions = self._compiler(alias, arity)
        return _Plan(sql=f"{sql} LIMIT %s OFFSET %s", params=params, positions=positions,
                     converters=compiler.get_converters([s[0] for s in compiler.select[:compiler.col_count]]))

    def rows(self, *values: Any, limit: int, offset: int = 0) -> list[tuple]:
        """Rows `offset` to `offset + limit` (exclusive) of the query for `values`, in its order."""
        plan, connection, rows = self._run(values, (int(limit), int(offset)))
        if plan.converters:
            return [tuple(_converted(row, plan.converters, connection)) for row in rows]
        return rows
