"""On PostgreSQL the database itself refuses to change or remove audit rows."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from tests.conftest import postgres_only

from .conftest import new_request

pytestmark = postgres_only

TABLES = (
    "audit_auditevent",
    "audit_archivedevent",
    "audit_auditarchive",
    "audit_auditcheckpoint",
    "audit_checkpointentry",
)


@pytest.fixture
def event(purchase_order, requester, emit):
    return emit(new_request(purchase_order, requester, {"amount": "5.00"}), "request_submitted",
                "requester")


def refused(sql: str, params: list | None = None) -> str:
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params or [])
    return str(error.value)


def test_update_is_refused(event):
    message = refused("UPDATE audit_auditevent SET event_type = 'request_approved'")
    assert "append-only" in message
    assert AuditEvent.objects.get(pk=event.pk).event_type == "request_submitted"


def test_delete_is_refused(event):
    assert "append-only" in refused("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_archiving_setting_alone_does_not_open_the_door(event):
    """Only events already in the archive manifest may go, even while archiving."""
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL audit.archiving = 'on'")
        cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert "not in the archive manifest" in str(error.value)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.fixture
def every_table_has_rows(purchase_order, requester, emit, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from audit.archive import archive_events

    settings.AUDIT_ARCHIVE_DIR = tmp_path
    request = new_request(purchase_order, requester, {"amount": "5.00"})
    emit(request, "request_submitted", "requester", at=timezone.now() - timedelta(days=900))
    emit(request, "comment_added", "requester")
    archive_events()  # writes a checkpoint, an archive, manifest rows, an archive event


@pytest.mark.parametrize("table", TABLES)
def test_every_audit_table_refuses_update_and_delete(every_table_has_rows, table):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (a fixed table name)
        assert cursor.fetchone()[0] > 0
    assert "append-only" in refused(f"UPDATE {table} SET id = id")  # noqa: S608
    assert "append-only" in refused(f"DELETE FROM {table}")  # noqa: S608


@pytest.mark.parametrize("table", TABLES)
def test_truncate_is_refused(every_table_has_rows, table):
    """Test databases (test_*) let the runner flush them; with that turned off,
    TRUNCATE meets the same refusal as anywhere else."""
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the fixture's deferred FK checks
        cur.execute("SET LOCAL audit.test_truncate = 'off'")
        cur.execute(f"TRUNCATE {table} CASCADE")
    assert "append-only" in str(error.value)
