"""Many rows of one model in one INSERT, cheap for the client on PostgreSQL.

Django's ``bulk_create`` (and a hand-written ``VALUES (%s, …), (%s, …)``) makes
psycopg bind one parameter per cell on the client: for a batch of a few hundred
audit events or outbox rows that is thousands of placeholders to find in the SQL
text and thousands of values to quote in Python (``bulk_create``'s ``UNNEST``
arrays of JSON are the dearest: each document is escaped again as an array
element). Here the rows travel as *one* JSON document, encoded by the standard
library's C encoder, and PostgreSQL unpacks it with ``jsonb_to_recordset``: one
parameter, whatever the number of rows. The rows stored are the same: every
value goes through its field's ``pre_save`` and ``get_db_prep_save`` first, and
PostgreSQL converts each JSON value with the column type's own input function
(JSON columns receive the very document ``JSONField`` would have sent).

Other databases (SQLite in tests and on a laptop) get one ``INSERT … VALUES`` with a
placeholder per value: the same statement, the same rows.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute

from config.statements import Statement


def available(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "postgresql"


_AS_TEXT = (datetime.datetime, datetime.date, datetime.time, uuid.UUID, decimal.Decimal)


def _column_value(value: Any) -> Any:
    """A database-ready value (after ``get_db_prep_save``) of a column that is not
    JSON, as JSON: its text for the types JSON has no word for, which the column
    type's input function reads back (isoformat keeps microseconds and offset)."""
    if isinstance(value, _AS_TEXT):
        return value.isoformat() if isinstance(value, datetime.date | datetime.time) else str(value)
    return value


def insert_rows(
    connection: BaseDatabaseWrapper,
    rows: Sequence[models.Model],
    *,
    conflict_column: str | None = None,
    returning: Sequence[str] = (),
    join: Join | None = None,
) -> list[tuple[Any, ...]]:
    """``INSERT`` the (unsaved) instances ``rows`` of one model in one statement (one
    JSON parameter on PostgreSQL, see ``available``); ``conflict_column``: ``ON CONFLICT
    (it) DO NOTHING``. Returns the ``returning`` columns of the rows inserted (in no
    promised order). The instances are left as they were: the caller knows which of
    them were written (with a conflict column, not all) and marks those saved; a
    primary key the database assigns is not set on them (ask for it in
    ``returning``). ``join`` (PostgreSQL only): columns computed in the statement
    from a join beside the rows (``Join``)."""
    if not rows:
        return []
    model = type(rows[0])
    plan = _plan(connection, model, conflict_column, tuple(returning), join)
    if plan.from_json:
        # No default=: a JSON field's value JSON cannot hold fails here as JSONField's
        # own json.dumps would.
        params: list[Any] = [json.dumps([plan.record(row, connection) for row in rows])]
        params += join.params if join else ()
        sql = plan.sql
    else:
        fields = plan.fields
        params = [f.get_db_prep_save(f.pre_save(row, add=True), connection)
                  for row in rows for f in fields]
        sql = plan.sql + ", ".join([plan.one_row] * len(rows)) + plan.tail
    with connection.cursor() as cursor:
        if plan.statement is not None:
            plan.statement.execute(connection, cursor, params)
        else:
            cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


@dataclass(frozen=True)
class Join:
    """A join beside the rows of an INSERT (PostgreSQL): ``sql`` follows
    ``FROM jsonb_to_recordset(…) AS r(…)`` and may name ``r``'s columns; ``columns``
    gives the SQL that computes some columns instead of ``r.<column>``; ``params``
    fill the ``%s`` in ``sql`` after the rows' own parameter (``columns`` have none)."""

    sql: str
    columns: tuple[tuple[str, str], ...]
    # Not part of the statement's shape (the plan's key): its values.
    params: tuple[Any, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class _Plan:
    """How the rows of one model go into one statement on one kind of database: the
    SQL (on other databases its start and ``tail``, around the VALUES, which depend on
    the row count) and, for PostgreSQL, how each column's JSON value is read from an
    instance."""

    fields: tuple[models.Field, ...]
    sql: str
    one_row: str = ""
    tail: str = ""
    from_json: bool = False
    # On PostgreSQL the statement is the same text whatever the rows: prepared once
    # per connection (config.statements), not parsed and planned at every call
    # (~0.05 to 0.1 ms of PostgreSQL's time for the audit trail's 18 columns).
    statement: Statement | None = None
    readers: tuple[tuple[str, Callable[[models.Model, BaseDatabaseWrapper], Any]], ...] = ()

    def record(self, row: models.Model, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        return {column: read(row, connection) for column, read in self.readers}


_plans: dict[tuple[Any, ...], _Plan] = {}


def _plan(
    connection: BaseDatabaseWrapper, model: type[models.Model], conflict_column: str | None,
    returning: tuple[str, ...], join: Join | None = None,
) -> _Plan:
    """The statement of this shape, made once per process (a model's fields and the
    SQL that names them do not change while it runs)."""
    key = (connection.alias, connection.vendor, model, conflict_column, returning, join)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    fields = tuple(
        f for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField | models.BigAutoField))
    )
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    table = qn(model._meta.db_table)
    tail = ""
    if conflict_column:
        tail += f" ON CONFLICT ({qn(conflict_column)}) DO NOTHING"
    if returning:
        tail += " RETURNING " + ", ".join(qn(c) for c in returning)
    if available(connection):
        # Column types without their length: a too-long text then fails on assignment
        # to the table's column, as a plain INSERT does, instead of being cut by a cast.
        types = ", ".join(f"{qn(f.column)} {f.db_type(connection).split('(')[0]}" for f in fields)
        computed = dict(join.columns) if join else {}
        values = ", ".join(computed.get(f.column, f"r.{qn(f.column)}") for f in fields)
        beside = f" {join.sql}" if join else ""
        sql = (
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 - names from the model
            f"SELECT {values} FROM jsonb_to_recordset(%s::jsonb) AS r({types}){beside}{tail}"
        )
        readers = tuple((f.column, _reader(f)) for f in fields)
        plan = _Plan(fields, sql, from_json=True, statement=Statement(sql), readers=readers)
    else:
        if join:
            raise ValueError("a join beside the rows is for PostgreSQL only")
        one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608 - names from the model
        plan = _Plan(fields, sql, one_row=one_row, tail=tail)
    _plans[key] = plan
    return plan


def statement_names(model: type[models.Model]) -> set[str]:
    """The prepared statements' names of this model's inserts made so far in this
    process (``EXECUTE <name>(…)`` is how they show among captured queries)."""
    return {plan.statement.name for key, plan in _plans.items()
            if key[2] is model and plan.statement is not None}


# Field classes whose database value is the Python value itself when that value is of
# the exact type named (or None): for those, ``get_db_prep_save`` (to_python, the
# backend's adaptation) hands the value back as it was, only slower. Subclasses are
# not listed: they may convert.
_AS_IS: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
}


Reader = Callable[[models.Model, BaseDatabaseWrapper], Any]


def _reader(field: models.Field) -> Reader:
    """How to read ``field`` of an instance as its JSON value in the batch: what
    ``_column_value(field.get_db_prep_save(field.pre_save(row, add=True), connection))``
    gives, with shortcuts for the common exact types (anything else takes that path)."""
    attname = field.attname
    # pre_save is a plain attribute read unless the field overrides it (auto_now…).
    plain_read = type(field).pre_save is models.Field.pre_save or (
        isinstance(field, models.DateField)
        and not (field.auto_now or field.auto_now_add)
        and type(field).pre_save in (models.DateField.pre_save, models.DateTimeField.pre_save)
    )
    # Django's own descriptors hand back what the instance's __dict__ holds (a value
    # not loaded is missing there and read through them): read it directly.
    from_dict = plain_read and type(field.model.__dict__.get(attname)) in (
        DeferredAttribute, ForeignKeyDeferredAttribute,
    )

    def value_of(row: models.Model) -> Any:
        if from_dict:
            try:
                return row.__dict__[attname]
            except KeyError:
                pass
        return getattr(row, attname) if plain_read else field.pre_save(row, add=True)

    def generic(value: Any, connection: BaseDatabaseWrapper) -> Any:
        return _column_value(field.get_db_prep_save(value, connection))

    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def read_json(row: models.Model, connection: BaseDatabaseWrapper) -> Any:
            value = value_of(row)
            # The document JSONField would send, as a JSON value in the batch.
            return json.loads(json.dumps(value, cls=encoder)) if encoder else value

        return read_json

    exact = _AS_IS.get(type(field))
    if type(field) is models.BooleanField:
        exact = bool
    elif type(field) is models.ForeignKey and type(field.target_field) in (
        models.AutoField, models.BigAutoField, models.IntegerField, models.BigIntegerField,
    ):
        exact = int
    if exact is not None:

        def read_exact(row: models.Model, connection: BaseDatabaseWrapper) -> Any:
            value = value_of(row)
            if type(value) is exact or (value is None and exact is not bool):
                return value
            return generic(value, connection)

        return read_exact

    if type(field) is models.DateTimeField:

        def read_datetime(row: models.Model, connection: BaseDatabaseWrapper) -> Any:
            value = value_of(row)
            if value is None:
                return None
            # An aware datetime is sent as it is (PostgreSQL's adaptation is a no-op).
            if type(value) is datetime.datetime and value.utcoffset() is not None:
                return value.isoformat()
            return generic(value, connection)

        return read_datetime

    if type(field) is models.UUIDField:

        def read_uuid(row: models.Model, connection: BaseDatabaseWrapper) -> Any:
            value = value_of(row)
            if value is None:
                return None
            return str(value) if type(value) is uuid.UUID else generic(value, connection)

        return read_uuid

    return lambda row, connection: generic(value_of(row), connection)
