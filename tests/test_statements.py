"""config.statements: PREPARE once per connection, then EXECUTE; the SQL as it is
elsewhere. The outbox's collapse check and a chain's head run through it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.statements import Statement
from tests.conftest import ON_POSTGRES, postgres_only


@pytest.mark.django_db
def test_a_statement_is_prepared_once_per_connection_and_outlives_a_rollback():
    statement = Statement("SELECT %s + 1, '100%%'")

    def held() -> int:  # the session's prepared statements
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            return cursor.fetchone()[0]

    def run() -> tuple[list[str], tuple]:
        before = held() if ON_POSTGRES else 0
        with CaptureQueriesContext(connection) as ctx, connection.cursor() as cursor:
            statement.execute(connection, cursor, [41])
            row = cursor.fetchone()
        # PREPARE is not among the counted queries (the connection's own set-up).
        prepared = ["PREPARE"] * ((held() if ON_POSTGRES else 0) - before)
        return prepared + [q["sql"].split()[0] for q in ctx.captured_queries], row

    if not ON_POSTGRES:
        assert run() == (["SELECT"], (42, "100%"))
        return
    assert run() == (["PREPARE", "EXECUTE"], (42, "100%"))
    assert run() == (["EXECUTE"], (42, "100%"))
    with pytest.raises(RuntimeError), transaction.atomic():
        assert run()[0] == ["EXECUTE"]
        raise RuntimeError("roll back")
    assert run() == (["EXECUTE"], (42, "100%"))
    # Another statement is prepared under its own name.
    other = Statement("SELECT %s * 2")
    with connection.cursor() as cursor:
        other.execute(connection, cursor, [21])
        assert cursor.fetchone() == (42,) and other.name != statement.name


@postgres_only
@pytest.mark.django_db
def test_preparing_in_a_failed_transaction_raises_djangos_error():
    """PREPARE runs on psycopg's own cursor, still under Django's error wrapper."""
    from django.db import DatabaseError, IntegrityError

    statement = Statement("SELECT %s * 3")
    with transaction.atomic():
        sid = transaction.savepoint()
        with pytest.raises(IntegrityError), connection.cursor() as cursor:
            cursor.execute("INSERT INTO orgchart_person (id) VALUES (NULL)")
        # The transaction is aborted until the savepoint rolls back.
        with pytest.raises(DatabaseError), connection.cursor() as cursor:
            statement.execute(connection, cursor, [1])
        transaction.savepoint_rollback(sid)
        with connection.cursor() as cursor:
            statement.execute(connection, cursor, [14])
            assert cursor.fetchone() == (42,)
