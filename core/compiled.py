"""ORM reads of one row by a unique key, compiled to SQL once per process (docs/benchmarks.md,
"Request path: no after-commit work in the request").

Django compiles a QuerySet to SQL on every evaluation: for the user row that authentication reads on
every API request (with the wallet joined for GET /api/wallet) that was ~180 us of the ~360 us the
read cost, against ~60 us for running the SQL. `CompiledGet` compiles the query once per database
alias, with stand-in values, and then runs the same SQL with each call's values, building the
instance (and its `select_related` rows) with Django's own `from_db`, field converters and related
populators, so the object is the one `QuerySet.get()` returns.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from django.db import connections, router
from django.db.models import QuerySet
from django.db.models.query import get_related_populators

# Stand-ins for the caller's values while compiling: integers no id ever takes (ids are positive).
_STAND_INS = tuple(-7_301_911_000_000 - i for i in range(8))


class _Plan(NamedTuple):
    sql: str
    params: tuple
    positions: tuple[int, ...]
    init_list: list[str]
    start: int
    end: int
    converters: dict
    populators: list


class CompiledGet:
    """`CompiledGet(model, build)`: `build(*values)` returns a QuerySet of `model` selecting AT MOST
    ONE row (a filter on a primary or unique key) with `values` in its filters, each exactly once and
    passed to the database as they are (integers: ids). `get(*values)` returns the instance, or
    raises `model.DoesNotExist`. The database is the one the router picks for a read of `model` at
    call time (core.db). Only for plain filters whose SQL does not depend on the values (no `__in`
    lists, no None). Raises ValueError when compiling finds a value missing or repeated."""

    def __init__(self, model: type, build: Callable[..., QuerySet]):
        self.model = model
        self.build = build
        self.plans: dict[str, _Plan] = {}

    def _compile(self, alias: str, arity: int) -> _Plan:
        stand_ins = _STAND_INS[:arity]
        compiler = self.build(*stand_ins).using(alias).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = tuple(params)
        if any(params.count(s) != 1 for s in stand_ins):
            raise ValueError("each value must appear exactly once in the query's parameters")
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Plan(sql=sql, params=params, positions=tuple(params.index(s) for s in stand_ins),
                     init_list=[s[0].target.attname for s in select[start:end]], start=start, end=end,
                     converters=compiler.get_converters([s[0] for s in select[:compiler.col_count]]),
                     populators=get_related_populators(klass_info, select, alias))

    def get(self, *values: Any):
        """The instance whose key is `values` (one SQL statement); raises `model.DoesNotExist`."""
        alias = router.db_for_read(self.model)
        plan = self.plans.get(alias)
        if plan is None:
            plan = self.plans[alias] = self._compile(alias, len(values))
        params = list(plan.params)
        for position, value in zip(plan.positions, values):
            params[position] = value
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            row = cursor.fetchone()
        if row is None:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} matching query does not exist.")
        if plan.converters:
            row = list(row)
            for pos, (convs, expression) in plan.converters.items():
                value = row[pos]
                for convert in convs:
                    value = convert(value, expression, connection)
                row[pos] = value
        obj = self.model.from_db(alias, plan.init_list, row[plan.start:plan.end])
        for populator in plan.populators:
            populator.populate(row, obj)
        return obj


class _RowsPlan(NamedTuple):
    sql: str
    params: tuple
    positions: tuple[int, ...]
    converters: dict


class CompiledRows:
    """`CompiledRows(model, build)`: `build(*values)` returns an ordered `values_list()` QuerySet of
    `model` with `values` in its filters, each exactly once, and no slice. `rows(*values, limit=,
    offset=)` returns that window of its rows as tuples (the field converters applied, as
    `values_list()` returns them), from SQL compiled once per database alias with `LIMIT %s OFFSET
    %s` appended: a page of a list costs no QuerySet building or compiling (docs/benchmarks.md,
    "Per-request overhead"). The database is the router's read database for `model` at call time.
    Same restrictions as `CompiledGet`; raises ValueError when compiling finds a value missing or
    repeated, or the query sliced."""

    def __init__(self, model: type, build: Callable[..., QuerySet]):
        self.model = model
        self.build = build
        self.plans: dict[str, _RowsPlan] = {}

    def _compile(self, alias: str, arity: int) -> _RowsPlan:
        stand_ins = _STAND_INS[:arity]
        query = self.build(*stand_ins).using(alias).query
        if query.is_sliced:
            raise ValueError("the query must not be sliced: rows() adds the window")
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = tuple(params)
        if any(params.count(s) != 1 for s in stand_ins):
            raise ValueError("each value must appear exactly once in the query's parameters")
        return _RowsPlan(sql=f"{sql} LIMIT %s OFFSET %s", params=params,
                         positions=tuple(params.index(s) for s in stand_ins),
                         converters=compiler.get_converters([s[0] for s in compiler.select[:compiler.col_count]]))

    def rows(self, *values: Any, limit: int, offset: int = 0) -> list[tuple]:
        """Rows `offset` to `offset + limit` (exclusive) of the query for `values`, in its order."""
        alias = router.db_for_read(self.model)
        plan = self.plans.get(alias)
        if plan is None:
            plan = self.plans[alias] = self._compile(alias, len(values))
        params = list(plan.params)
        for position, value in zip(plan.positions, values):
            params[position] = value
        params += (int(limit), int(offset))
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        if plan.converters:
            converted = []
            for row in rows:
                row = list(row)
                for pos, (convs, expression) in plan.converters.items():
                    value = row[pos]
                    for convert in convs:
                        value = convert(value, expression, connection)
                    row[pos] = value
                converted.append(tuple(row))
            rows = converted
        return rows
