"""config.postgresql: Django's PostgreSQL backend whose connections read timestamps with
psycopg's C parser. The values must be the ones Django's own loader gives."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from config.postgresql.base import C_PARSER, TIMESTAMPTZ_OID, timestamptz_loader
from tests.conftest import postgres_only

pytestmark = [pytest.mark.django_db, postgres_only]

# Timestamps across the range PostgreSQL and Python share: every precision of the
# fraction, offsets of the literals, leap days, the 1900s and the far future.
_VALUES = """
SELECT t FROM generate_series(
    timestamptz '1901-12-13 20:45:52.000001+00', timestamptz '2200-01-01 00:00:00+00',
    interval '97 days 5 hours 3 minutes 7.123457 seconds') AS t
UNION ALL SELECT unnest(ARRAY[
    timestamptz '2024-02-29 23:59:59.999999+00', timestamptz '2026-11-22 13:00:00+05:30',
    timestamptz '2026-03-29 01:30:00.5+01', timestamptz '2026-11-22 13:00:00.12-09:30',
    NULL])
"""
# The ends of Python's range, read in UTC.
_ENDS = (
    "SELECT timestamptz '0001-01-01 00:00:00+00' "
    "UNION ALL SELECT timestamptz '9999-12-31 23:59:59.999999+00'"
)


def _read(sql: str) -> list:
    """The rows as this backend reads them: with its loader, not one Django put on the
    cursor (create_cursor does when the time zones differ)."""
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        assert loader is timestamptz_loader(connection.timezone)
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def _with_djangos_loader(sql: str) -> list:
    """The rows as Django's own backend reads them (its loader on this cursor)."""
    with connection.cursor() as cursor:
        register_tzloader(connection.timezone, cursor.cursor)
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def test_the_connections_read_timestamps_with_the_c_parser():
    assert settings.DATABASES["default"]["ENGINE"] == "config.postgresql"
    assert C_PARSER is not None  # psycopg[binary] is a dependency
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    assert loader is timestamptz_loader(connection.timezone)


def test_timestamps_are_the_values_djangos_loader_gives():
    ours, djangos = _read(_VALUES), _with_djangos_loader(_VALUES)
    assert len(ours) > 1000
    assert ours == djangos
    # The same objects, time zone included (timezone.utc, not an equal offset).
    assert [(v.tzinfo, v.isoformat()) for v in ours if v] == [
        (v.tzinfo, v.isoformat()) for v in djangos if v
    ]
    assert all(v.tzinfo is UTC for v in ours if v)
    assert ours[-1] is None
    assert _read(_ENDS) == _with_djangos_loader(_ENDS)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/St_Johns"])
def test_a_database_time_zone_is_put_in_as_djangos_loader_does(zone):
    """With DATABASES' TIME_ZONE Django reads datetimes in that zone."""
    tz = ZoneInfo(zone)
    loader = timestamptz_loader(tz)
    assert loader.timezone is tz and timestamptz_loader(tz) is loader  # one class a zone
    with connection.cursor() as cursor:
        cursor.execute(f"SET TIME ZONE '{zone}'")
        try:
            cursor.cursor.adapters.register_loader("timestamptz", loader)
            cursor.execute(_VALUES)
            ours = [row[0] for row in cursor.fetchall()]
        finally:
            cursor.execute("SET TIME ZONE 'UTC'")
    with connection.cursor() as cursor:
        cursor.execute(f"SET TIME ZONE '{zone}'")
        try:
            register_tzloader(tz, cursor.cursor)
            cursor.execute(_VALUES)
            djangos = [row[0] for row in cursor.fetchall()]
        finally:
            cursor.execute("SET TIME ZONE 'UTC'")
    assert ours == djangos
    assert [(v.tzinfo, v.isoformat()) for v in ours if v] == [
        (v.tzinfo, v.isoformat()) for v in djangos if v
    ]
    assert any(v.utcoffset() != timedelta(0) for v in ours if v)
    assert all(v.tzinfo is tz for v in ours if v)


@pytest.mark.parametrize(
    "literal", ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC", "10000-01-01 00:00:00+00"]
)
def test_an_out_of_range_timestamp_is_an_error_as_with_djangos_loader(literal):
    sql = f"SELECT timestamptz '{literal}'"
    with pytest.raises(DataError):
        _read(sql)
    with pytest.raises(DataError):
        _with_djangos_loader(sql)

