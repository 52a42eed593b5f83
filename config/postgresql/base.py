"""Django's PostgreSQL backend, with ``timestamptz`` values read by psycopg's C parser.

Django reads every ``timestamptz`` column through its own loader
(``django.db.backends.postgresql.psycopg_any.BaseTzLoader``): psycopg's pure-Python
parser, then ``replace(tzinfo=connection.timezone)``. That costs ~5 µs a value, ~0.5 ms
of CPU for the inbox page's hundred timestamps and more for the SLA sweep's batches
(docs/PERFORMANCE.md, "Requests' floor"). The loader here does the same with the parser
that psycopg's C package (``psycopg[binary]``, or ``psycopg[c]``) registers for the type:
the same value, ~1.5 µs (tests/test_postgresql_backend.py compares the two). Without a C
package there is nothing faster to use and Django's loader stays.
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader as PythonTimestamptzLoader

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# The loader psycopg itself uses for the type: its C one when a C package is installed.
_PARSER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
C_PARSER: type[Loader] | None = None if _PARSER is PythonTimestamptzLoader else _PARSER


@functools.cache
def timestamptz_loader(timezone: tzinfo | None) -> type[Loader]:
    """Django's ``BaseTzLoader`` for ``timezone`` (psycopg's reading of the value, then
    the connection's time zone put in), parsing with ``C_PARSER``."""
    assert C_PARSER is not None
    parser = C_PARSER

    class TimestamptzLoader(Loader):
        # Django's create_cursor() compares it with the connection's own time zone.
        timezone: tzinfo | None = None

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._parse = parser(oid, context).load

        def load(self, data: Any) -> datetime:
            value = self._parse(data)
            # Usually it is already in the connection's time zone (UTC and UTC).
            return value if value.tzinfo is timezone else value.replace(tzinfo=timezone)

    TimestamptzLoader.timezone = timezone
    return TimestamptzLoader


class DatabaseWrapper(base.DatabaseWrapper):
    """``django.db.backends.postgresql`` whose connections read timestamps with
    ``timestamptz_loader``; everything else is Django's."""

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if base.is_psycopg3 and C_PARSER is not None:
            connection.adapters.register_loader("timestamptz", timestamptz_loader(self.timezone))
        return connection
