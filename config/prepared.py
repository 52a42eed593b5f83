"""values() querysets compiled once per process and run again with other values.

The inbox page runs the same two reads on every request with another person, time and
page. Building and compiling them (a dozen columns through five joins, three filtered
counts) costs more CPU than PostgreSQL takes to answer: about 2.5 ms a page. A
``Prepared`` read builds its queryset once per shape with marker values, keeps the SQL
and the compiler, and afterwards only puts the real values where the markers were. The
queryset stays the definition (the same SQL, the same converters, the same rows:
tests/test_prepared.py compares them).

On PostgreSQL the SQL is also a prepared statement of each connection
(``config.statements``: ``PREPARE`` the first time a connection runs it, then
``EXECUTE``): the inbox's page of rows joins seven
tables, and planning it took 2.3 ms where running it took 0.7. PostgreSQL plans the
first few executions with their values, then keeps a generic plan when it costs no more.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

from config.statements import Statement

Value = int | str | datetime

_SHAPES_MAX = 512  # offsets are part of a shape: enough for every page anyone reads


@dataclass(frozen=True)
class _Compiled:
    compiler: SQLCompiler
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (position in params, name of the value)
    names: tuple[str, ...]  # the values() keys, in column order
    statement: Statement  # the SQL, PREPAREd on PostgreSQL (config.statements)
    locks: bool  # select_for_update(): only inside a transaction
    _plan: tuple[Any, ...] | None = None  # model_plan(), worked out the first time
    # What results_iter works out on every call, worked out once: the columns'
    # converters (JSON, UUIDs, SQLite's datetimes), whether a composite field needs its
    # columns grouped (None: not yet).
    _conversion: tuple[dict[int, Any], bool] | None = None


    def model_plan(self) -> tuple[type[Model], int, int, list[str], list[Any]]:
        """What ``ModelIterable`` works out per query to make instances from rows: the
        model, where its columns are in a row, their attribute names, and the
        populators of the select_related() objects (read from the kept compiler)."""
        if self._plan is None:
            compiler = self.compiler
            select, klass_info = compiler.select, compiler.klass_info
            fields = klass_info["select_fields"]
            start, end = fields[0], fields[-1] + 1
            init_list = [column[0].target.attname for column in select[start:end]]
            populators = get_related_populators(klass_info, select, compiler.using)
            plan = (klass_info["model"], start, end, init_list, populators)
            object.__setattr__(self, "_plan", plan)  # frozen: set once, like a cache
        return self._plan

    def results(self, fetched: list[Any]) -> Any:
        """``SQLCompiler.results_iter`` of the fetched rows, with the converters worked
        out the first time (finding them was a prepared read's largest single cost)."""
        compiler = self.compiler
        if self._conversion is None:
            selected = _selected(compiler)
            conversion = (compiler.get_converters(selected),
                          compiler.has_composite_fields(selected))
            object.__setattr__(self, "_conversion", conversion)  # frozen: set once
        converters, composite = self._conversion
        rows: Any = fetched
        if converters:
            rows = compiler.apply_converters(rows, converters)
        if composite:
            rows = compiler.composite_fields_to_tuples(rows, _selected(compiler))
        return rows


class Prepared:
    """``build(shape, **values)`` returns a values() queryset; ``rows(shape, **values)``
    returns its rows as dicts, compiling once per shape.

    ``shape`` is whatever changes the SQL itself (which filters apply, a slice's start);
    ``values`` are what the SQL carries as parameters, exactly as given (ints, strings,
    datetimes): a lookup that changes its value (``startswith`` adds ``%``) is refused
    when compiled. The kept compiler only converts rows (JSON, SQLite's datetimes), which
    reads the connection's operations, never its socket."""

    def __init__(self, build: Callable[..., QuerySet], using: str = "default") -> None:
        self.build = build
        self.using = using
        self._compiled: dict[Hashable, _Compiled] = {}

    def rows(self, shape: Hashable, **values: Value) -> list[dict[str, Any]]:
        compiled, fetched = self._run(shape, values)
        return [dict(zip(compiled.names, row, strict=True)) for row in compiled.results(fetched)]

    def objects(self, shape: Hashable, **values: Value) -> list[Model]:
        """The model instances of a queryset that is not a values() one, with its
        select_related() objects and annotations, made as Django's ``ModelIterable``
        makes them (``Model.from_db``, so they save as any loaded instance does)."""
        compiled, fetched = self._run(shape, values)
        compiler = compiled.compiler
        model, start, end, init_list, populators = compiled.model_plan()
        db = self.using
        annotations = compiler.annotation_col_map
        made = []
        for row in compiled.results(fetched):
            obj = model.from_db(db, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            if annotations:
                for name, position in annotations.items():
                    setattr(obj, name, row[position])
            made.append(obj)
        return made

    def _run(self, shape: Hashable, values: dict[str, Value]) -> tuple[_Compiled, list[Any]]:
        compiled = self._compiled.get(shape)
        if compiled is None:
            if len(self._compiled) >= _SHAPES_MAX:
                self._compiled.clear()
            compiled = self._compiled[shape] = self._compile(shape, values)
        connection = connections[self.using]
        if compiled.locks and connection.get_autocommit():
            # Django says so when it compiles; compiled once, the check is here.
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(compiled.params)
        for position, name in compiled.slots:
            value = _adapt(connection, values[name])
            # psycopg's Django backend sends some integer columns' values typed (Int4).
            kind = type(params[position])
            params[position] = value if kind is type(value) else kind(value)
        with connection.cursor() as cursor:
            compiled.statement.execute(connection, cursor, params)
            return compiled, cursor.fetchall()

    def _compile(self, shape: Hashable, values: dict[str, Value]) -> _Compiled:
        markers = {name: _marker(i, value) for i, (name, value) in enumerate(values.items())}
        queryset = self.build(shape, **markers)
        query = queryset.query
        connection = connections[self.using]
        compiler = query.get_compiler(using=self.using)
        sql, params = compiler.as_sql()
        adapted = {name: _adapt(connection, marker) for name, marker in markers.items()}
        slots = tuple(
            (position, name)
            for position, param in enumerate(params)
            for name, marker in adapted.items()
            if _same(param, marker)
        )
        missing = set(markers) - {name for _, name in slots}
        if missing:  # a value the SQL does not carry as a parameter cannot be put in again
            raise ValueError(f"{sorted(missing)} not found among the query's parameters")
        # The dict keys, as ValuesIterable names them.
        names = tuple(query.selected) if query.selected else (
            *query.extra_select, *query.values_select, *query.annotation_select
        )
        return _Compiled(
            compiler, sql, tuple(params), slots, names, Statement(sql), query.select_for_update
        )


def _selected(compiler: SQLCompiler) -> list[Any]:
    """The selected expressions, as results_iter reads them (after as_sql)."""
    return [column[0] for column in compiler.select[0 : compiler.col_count]]


def _marker(index: int, value: Value) -> Value:
    """A value of the same type that the query's own parameters are not expected to
    hold (a constant equal to one would be taken for it)."""
    if isinstance(value, bool):
        raise TypeError("booleans cannot be told apart from the query's own")
    if isinstance(value, int):
        # In range of integer and big integer columns: Django leaves a lookup out of a
        # column's range out of the SQL, and the missing slot is then refused (a small
        # integer column's lookup cannot be prepared).
        return 2_147_000_000 + index
    if isinstance(value, str):
        return f"\x00prepared-marker-{index}\x00"
    if isinstance(value, datetime):
        return datetime(1901, 2, 3, 4, 5, 6, 700_000 + index, tzinfo=UTC)
    raise TypeError(f"cannot prepare a {type(value).__name__}")


def _same(param: Any, marker: Any) -> bool:
    """Is this parameter the marker? An integer may come back typed (psycopg's ``Int4``)."""
    if isinstance(marker, int):
        return isinstance(param, int) and not isinstance(param, bool) and param == marker
    return type(param) is type(marker) and param == marker


def _adapt(connection: Any, value: Value) -> Any:
    """A value as the ORM passes it to the database (datetimes as the backend wants them)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value
