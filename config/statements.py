"""Hand-written SQL that runs on every engine write, as PostgreSQL prepared statements.

Some statements run once or more in every service call (the outbox's collapse check,
an audit chain's head) with only their values changing. Built through the ORM each
call, such a statement costs more of the client's CPU than PostgreSQL takes to answer
it; written once as SQL it still costs PostgreSQL a plan per call. A ``Statement`` is
``PREPARE``d the first time a connection runs it and ``EXECUTE``d afterwards (as
``config.prepared`` does for querysets). Its parameters are ``%s``
placeholders, each used once, in order. Other databases run the SQL as it is.

A prepared statement belongs to a PostgreSQL session, and outlives a rollback; a new
connection prepares again. (A pooler in transaction mode would share sessions: see
docs/PERFORMANCE.md.)
"""

from __future__ import annotations

import itertools
import re
import weakref
from collections.abc import Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

_NAMES = itertools.count(1)
_PLACEHOLDER = re.compile(r"%([s%])")


class Statement:
    """One SQL text with ``%s`` parameters; ``execute`` runs it on a cursor."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.name = f"config_statement_{next(_NAMES)}"
        numbers = itertools.count(1)
        self._numbered = _PLACEHOLDER.sub(
            lambda m: f"${next(numbers)}" if m[1] == "s" else "%", sql
        )
        count = next(numbers) - 1
        self._execute = (
            f"EXECUTE {self.name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {self.name}"
        )
        # The raw connections (sessions) that have prepared it.
        self._prepared_on: weakref.WeakSet = weakref.WeakSet()

    def execute(self, connection: BaseDatabaseWrapper, cursor: Any, params: Sequence[Any]) -> None:
        if connection.vendor != "postgresql" or _binds_on_server(connection):
            # Server-side binding sends $n parameters, which EXECUTE's %s would not get;
            # psycopg then prepares a statement it sees often by itself.
            cursor.execute(self.sql, params)
            return
        raw = connection.connection
        if raw not in self._prepared_on:
            # The connection's own set-up, like its first SETs: on psycopg's cursor under
            # Django's, so the queries Django counts are the statements the caller runs,
            # whichever connection happens to prepare. Its errors are Django's, as any
            # query's (and mark the connection as one that had an error).
            with connection.wrap_database_errors:
                cursor.cursor.execute(f"PREPARE {self.name} AS {self._numbered}")
            self._prepared_on.add(raw)
        cursor.execute(self._execute, params)


def _binds_on_server(connection: BaseDatabaseWrapper) -> bool:
    return bool(connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"))
