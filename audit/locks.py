"""Serializing the audit trail's own writers (checkpoint, archive runs)."""

from __future__ import annotations

from django.db import connection


def serialize(name: str) -> None:
    """Hold a transaction-scoped lock named ``name`` until the transaction ends.

    PostgreSQL: an advisory lock, so two beat schedulers or a command racing the
    nightly task take turns. SQLite runs every write transaction IMMEDIATE, which
    already lets one writer in at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"audit:{name}"])
