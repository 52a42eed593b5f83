"""The audit tables' indexes on PostgreSQL: the ones queries need, not more."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from tests.conftest import postgres_only

from .conftest import new_request

pytestmark = postgres_only


def indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = %s",
            [table],
        )
        return dict(cursor.fetchall())


@pytest.mark.parametrize(
    ("table", "constraint"),
    [("audit_auditevent", "auditevent_hash"), ("audit_archivedevent", "archivedevent_hash")],
)
def test_event_hashes_are_unique_without_a_like_index(db, table, constraint):
    found = indexes(table)
    assert found[constraint].startswith(f"CREATE UNIQUE INDEX {constraint} ")
    assert found[constraint].endswith("(hash)")
    assert [name for name, sql in found.items() if "varchar_pattern_ops" in sql] == []


def test_a_second_event_with_the_same_hash_is_refused(purchase_order, requester, emit):
    event = emit(new_request(purchase_order, requester, {}), "request_submitted", "requester")
    copy = AuditEvent.objects.get(pk=event.pk)
    copy.id, copy.seq = uuid.uuid4(), 2  # a new row in the chain's next place, same hash
    copy._state.adding = True
    with pytest.raises(IntegrityError, match="auditevent_hash"), transaction.atomic():
        copy.save()
