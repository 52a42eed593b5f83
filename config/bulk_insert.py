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
from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


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
) -> list[tuple[Any, ...]]:
    """``INSERT`` the (unsaved) instances ``rows`` of one model in one statement (one
    JSON parameter on PostgreSQL, see ``available``); ``conflict_column``: ``ON CONFLICT
    (it) DO NOTHING``. Returns the ``returning`` columns of the rows inserted (in no
    promised order). The instances are left as they were: the caller knows which of
    them were written (with a conflict column, not all) and marks those saved; a
    primary key the database assigns is not set on them (ask for it in
    ``returning``)."""
    if not rows:
        return []
    model = type(rows[0])
    fields = [
        f for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField | models.BigAutoField))
    ]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    if available(connection):
        sql, params = _from_json(connection, model, fields, rows, columns)
    else:
        one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        params = [f.get_db_prep_save(f.pre_save(row, add=True), connection)
                  for row in rows for f in fields]
        sql = (
            f"INSERT INTO {qn(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
            f"VALUES {', '.join([one_row] * len(rows))}"
        )
    if conflict_column:
        sql += f" ON CONFLICT ({qn(conflict_column)}) DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(qn(c) for c in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


def _from_json(
    connection: BaseDatabaseWrapper, model: type[models.Model], fields: list[models.Field],
    rows: Sequence[models.Model], columns: str,
) -> tuple[str, list[str]]:
    """PostgreSQL's statement: the rows as one JSON document, unpacked by
    ``jsonb_to_recordset``."""
    records = []
    for row in rows:
        record = {}
        for f in fields:
            value = f.pre_save(row, add=True)
            if isinstance(f, models.JSONField):
                # The document JSONField would send, as a JSON value in the batch.
                record[f.column] = (
                    json.loads(json.dumps(value, cls=f.encoder)) if f.encoder else value
                )
            else:
                record[f.column] = _column_value(f.get_db_prep_save(value, connection))
        records.append(record)
    qn = connection.ops.quote_name
    # Column types without their length: a too-long text then fails on assignment to
    # the table's column, as a plain INSERT does, instead of being cut by a cast.
    types = ", ".join(f"{qn(f.column)} {f.db_type(connection).split('(')[0]}" for f in fields)
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
        f"SELECT {columns} FROM jsonb_to_recordset(%s::jsonb) AS r({types})"
    )
    # No default=: a JSON field's value JSON cannot hold fails here as JSONField's own
    # json.dumps would.
    return sql, [json.dumps(records)]
