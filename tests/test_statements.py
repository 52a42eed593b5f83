"""config.statements: PREPARE once per connection, then EXECUTE; the SQL as it is
elsewhere. The outbox's collapse check and a chain's head run through it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.statements import Statement
from tests.conftest import ON_POSTGRES


@pytest.mark.django_db
def test_a_statement_is_prepared_once_per_connection_and_outlives_a_rollback():
    statement = Statement("SELECT %s + 1, '100%%'")

    def run() -> tuple[list[str], tuple]:
        with CaptureQueriesContext(connection) as ctx, connection.cursor() as cursor:
            statement.execute(connection, cursor, [41])
            row = cursor.fetchone()
        return [q["sql"].split()[0] for q in ctx.captured_queries], row

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
