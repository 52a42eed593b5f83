"""The hot tier as audit_verify reads it: plain rows, fast, by range of chains.

At millions of events, building a model instance per event (and running a
converter per field) cost verify more than the hashing itself; here rows come
as tuples, the id as text, the JSON decoded once per row. Chain ranges let
several processes walk the chains side by side (``chain_ranges``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from django.db import connection
from django.db.models import Q
from psycopg.types.datetime import TimestamptzLoader

from .hashing import loads as json_loads
from .models import AuditEvent

# What verify reads of a hot event: the hashed columns, the hash, and the
# denormalized actor columns checked against the hashed actor; JSON last.
HOT_COLUMNS = (
    "id",
    "at",
    "chain",
    "seq",
    "request_id",
    "workflow_key",
    "workflow_version",
    "event_type",
    "imported",
    "prev_hash",
    "hash",
    "actor_username",
    "on_behalf_of_username",
    "actor",
    "payload",
    "snapshot",
    "inputs",
)

# HOT_COLUMNS on PostgreSQL, as cheap as they come: the id as text, the four
# JSON documents as one JSON array (one decode per row).
HOT_SQL = """
SELECT id::text, at, chain, seq, request_id, workflow_key, workflow_version, event_type,
       imported, prev_hash, hash, actor_username, on_behalf_of_username,
       '[' || actor::text || ',' || payload::text || ',' || snapshot::text || ','
           || inputs::text || ']'
FROM audit_auditevent
WHERE {where}
ORDER BY chain, seq
"""

# Rows sampled to choose where chain ranges split.
SAMPLE_ROWS = 100_000


@dataclass(frozen=True)
class ChainRange:
    """The chains from ``first`` (included) to ``end`` (excluded) in the database's
    order of ``chain``; None for no bound."""

    first: str | None = None
    end: str | None = None

    def q(self) -> Q:
        q = Q()
        if self.first is not None:
            q &= Q(chain__gte=self.first)
        if self.end is not None:
            q &= Q(chain__lt=self.end)
        return q

    def sql(self) -> tuple[str, list[str]]:
        """A WHERE clause of constant text; the bounds go in as parameters."""
        conditions, params = ["TRUE"], []
        if self.first is not None:
            conditions.append("chain >= %s")
            params.append(self.first)
        if self.end is not None:
            conditions.append("chain < %s")
            params.append(self.end)
        return " AND ".join(conditions), params


ALL_CHAINS = ChainRange()


def hot_rows(chains: ChainRange, *, chunk_size: int) -> Iterator[tuple]:
    """The hot events in ``chains`` in (chain, seq) order, as tuples of
    ``HOT_COLUMNS`` with the id as text and the JSON decoded. Run it inside a
    transaction: on PostgreSQL the rows stream from a server-side cursor, which
    outside one would first be copied aside whole (a holdable cursor)."""
    if connection.vendor == "postgresql":
        yield from _hot_rows_postgresql(chains, chunk_size)
        return
    rows = (
        AuditEvent.objects.filter(chains.q())
        .order_by("chain", "seq")
        .values_list(*HOT_COLUMNS)
        .iterator(chunk_size=chunk_size)
    )
    for event_id, *rest in rows:
        yield (str(event_id), *rest)


def _hot_rows_postgresql(chains: ChainRange, chunk_size: int) -> Iterator[tuple]:
    where, params = chains.sql()
    loads = json_loads
    with connection.chunked_cursor() as cursor:
        # psycopg's own (C) loader for the times: Django's adds a Python step per
        # value to attach its tzinfo, which utc_iso does not need.
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(HOT_SQL.format(where=where), params)
        while rows := cursor.fetchmany(chunk_size):
            for row in rows:
                yield (*row[:-1], *loads(row[-1]))


def chain_ranges(parts: int) -> list[ChainRange]:
    """The hot chains cut into ``parts`` ranges of about as many events each, in
    chain order, at boundaries taken from a sample of the table (PostgreSQL).
    Fewer when the table has fewer distinct chains than that."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'audit_auditevent'::regclass")
        estimate = cursor.fetchone()[0]
        percent = 100.0 if estimate <= SAMPLE_ROWS else 100.0 * SAMPLE_ROWS / estimate
        cursor.execute(
            "SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY chain) "
            "FROM audit_auditevent TABLESAMPLE SYSTEM (%s)",
            [[k / parts for k in range(1, parts)], percent],
        )
        sampled = cursor.fetchone()[0] or []
    # Ascending in the database's order already; a repeated bound would make an empty range.
    bounds: list[str] = []
    for bound in sampled:
        if bound is not None and (not bounds or bound != bounds[-1]):
            bounds.append(bound)
    return [ChainRange(first, end) for first, end in pairwise([None, *bounds, None])]
