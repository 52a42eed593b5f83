"""Writing generated rows fast: COPY on PostgreSQL, bulk_create elsewhere.

Rows are dicts keyed by field ``attname`` (``requester_id``, not ``requester``)
holding Python values; JSON fields hold Python objects. Fields a row leaves out
take the field's default, computed once per table (so callables such as
``uuid4`` or ``timezone.now`` must be given explicitly).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import connection, models
from psycopg.copy import QueuedLibpqWriter


class Sink:
    """Inserts rows into one database connection, counting what it wrote."""

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.counts: dict[str, int] = {}

    def next_id(self, model: type[models.Model]) -> int:
        """The first free primary key: generated ids start after the existing rows."""
        last = model._base_manager.aggregate(m=models.Max("pk"))["m"]
        return (last or 0) + 1

    def write(self, model: type[models.Model], rows: Iterable[dict[str, Any]]) -> int:
        fields = [
            f
            for f in model._meta.concrete_fields
            # history_id is an identity column: the database numbers history rows.
            if not (f.primary_key and f.name == "history_id")
        ]
        defaults = {f.attname: f.get_default() for f in fields}
        if self.postgres:
            count = self._copy(model, fields, defaults, rows)
        else:
            count = self._bulk(model, defaults, rows)
        label = model._meta.label
        self.counts[label] = self.counts.get(label, 0) + count
        return count

    def _copy(
        self,
        model: type[models.Model],
        fields: list[models.Field],
        defaults: dict[str, Any],
        rows: Iterable[dict[str, Any]],
    ) -> int:
        names = [f.attname for f in fields]
        json_names = {f.attname for f in fields if isinstance(f, models.JSONField)}
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
        count = 0
        connection.ensure_connection()
        # A writer thread sends while this thread builds the next rows, so Python and
        # the server work at the same time on two cores.
        with connection.connection.cursor() as cursor, cursor.copy(
            sql, writer=QueuedLibpqWriter(cursor)
        ) as copy:
            # Consecutive rows often share one JSON object (a request's inputs, the
            # system actor): encode it once.
            last: dict[str, tuple[Any, str]] = {}
            for row in rows:
                values = []
                for name in names:
                    value = row[name] if name in row else defaults[name]
                    if name in json_names:
                        seen = last.get(name)
                        if seen is not None and seen[0] is value:
                            value = seen[1]
                        else:
                            text = json.dumps(value, separators=(",", ":"))
                            last[name] = (value, text)
                            value = text
                    values.append(value)
                copy.write_row(values)
                count += 1
        return count

    def _bulk(
        self, model: type[models.Model], defaults: dict[str, Any], rows: Iterable[dict[str, Any]]
    ) -> int:
        batch: list[models.Model] = []
        count = 0
        for row in rows:
            batch.append(model(**{**defaults, **{k: v for k, v in row.items() if k in defaults}}))
            if len(batch) >= 2000:
                model._base_manager.bulk_create(batch)
                count += len(batch)
                batch = []
        if batch:
            model._base_manager.bulk_create(batch)
            count += len(batch)
        return count

    def reset_sequences(self, models_: Iterable[type[models.Model]]) -> None:
        """After explicit ids, move PostgreSQL's identity sequences past them."""
        if not self.postgres:
            return
        with connection.cursor() as cursor:
            for model in models_:
                table = model._meta.db_table
                pk = model._meta.pk.column
                # Table and column names come from the models, not from input.
                sql = (
                    f"SELECT setval(pg_get_serial_sequence(%s, %s), "  # noqa: S608
                    f"GREATEST((SELECT MAX({pk}) FROM {table}), 1))"
                )
                cursor.execute(sql, [table, pk])


@contextmanager
def indexes_deferred(tables: Iterable[str]) -> Iterator[list[str]]:
    """On PostgreSQL, drop the tables' secondary indexes (not those behind primary
    keys or unique constraints) for the load and build them again afterwards, from
    their exact definitions: one sort per index instead of millions of random
    inserts. Yields the names of the indexes dropped. Elsewhere, does nothing."""
    if connection.vendor != "postgresql":
        yield []
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname)",
            [list(tables)],
        )
        dropped = cursor.fetchall()
        for name, _ in dropped:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    try:
        yield [name for name, _ in dropped]
    finally:
        with connection.cursor() as cursor:
            # Inside an outer transaction (a test), the load's deferred foreign-key
            # checks are still pending, and PostgreSQL builds no index over them.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            cursor.execute("SET maintenance_work_mem TO '512MB'")
            for _, definition in dropped:
                cursor.execute(definition)


def history_rows(
    rows: Iterable[dict[str, Any]], *, at: datetime
) -> Iterable[dict[str, Any]]:
    """django-simple-history "created" rows for generated live rows, so the chart
    read as of a past time (audit replay) sees the generated people too."""
    for row in rows:
        yield {
            **row,
            "history_date": at,
            "history_type": "+",
            "history_change_reason": None,
            "history_user_id": None,
        }
