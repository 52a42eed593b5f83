"""The outbox table's indexes: those its queries use, no more (every message
insert writes each one), and migration 0002, which dropped two, runs both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from approvals.notifications.models import Outbox
from config import bulk_insert
from tests.conftest import postgres_only
from tests.factories import PersonFactory

TABLE = "notifications_outbox"
# Each serves a query named in approvals/notifications/models.py (foreign keys:
# deletions of what they point at, and _claim_collapsible for collapsed_into).
INDEXES = {
    "notifications_outbox_pkey",
    "outbox_dedup_key",
    "outbox_unfinished",
    "outbox_recipient_request",
    "outbox_digest",
    "notifications_outbox_request_id_47374ef9",
    "notifications_outbox_task_id_b7a2c9ec",
    "notifications_outbox_subscription_id_66faedf9",
    "notifications_outbox_collapsed_into_id_469906a8",
}
# What 0001 made and 0002 dropped.
DROPPED = {"notifications_outbox_recipient_id_805caab4", "dedup_key varchar_pattern_ops"}


def indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = %s",
            [TABLE],
        )
        return dict(cursor.fetchall())


@postgres_only
def test_the_outbox_carries_only_the_indexes_its_queries_use(db):
    """No varchar_pattern_ops index on dedup_key (no LIKE query), no index on
    recipient alone (outbox_recipient_request starts with it)."""
    assert set(indexes()) == INDEXES


@postgres_only
def test_lookups_by_recipient_use_the_recipient_request_index(db):
    """A person's deletion reads their messages by recipient (one or many people):
    the partial index on (recipient, request, channel, state) serves it."""
    people = [PersonFactory(), PersonFactory()]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        one = Outbox.objects.filter(recipient=people[0]).explain()
        many = Outbox.objects.filter(recipient__in=people).explain()
    assert "outbox_recipient_request" in one and "outbox_recipient_request" in many


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_index_migration_goes_back_and_forth():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("notifications")
    executor.migrate([("notifications", "0001_initial")])
    before = indexes()
    assert "notifications_outbox_recipient_id_805caab4" in before
    assert any("dedup_key varchar_pattern_ops" in sql for sql in before.values())
    assert any("UNIQUE INDEX" in sql and "(dedup_key)" in sql for sql in before.values())

    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    assert set(indexes()) == INDEXES
    assert "UNIQUE INDEX outbox_dedup_key" in indexes()["outbox_dedup_key"]


@postgres_only
def test_rows_inserted_in_one_json_parameter_are_those_bulk_create_writes(db):
    """config.bulk_insert: the same stored values as Django's own INSERT (times to
    the microsecond with their offset, text beyond ASCII, nested JSON, NULLs); a key
    already there is skipped under ON CONFLICT, and RETURNING names the rows written."""
    person = PersonFactory()
    at = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
    payload = {"title": "Café ☕ “quoted” \\ back\nline", "n": [1, 2.5, None, True], "x": {}}

    def row(key: str) -> Outbox:
        return Outbox(
            dedup_key=key, kind="task_assigned", channel="email", recipient=person,
            payload=payload, next_attempt_at=at, queued_at=at + timedelta(microseconds=1),
        )

    Outbox.objects.bulk_create([row("orm-1"), row("orm-2")])
    written = bulk_insert.insert_rows(
        connection, [row("json-1"), row("json-2"), row("orm-1")],
        conflict_column="dedup_key", returning=("dedup_key",),
    )
    assert sorted(key for (key,) in written) == ["json-1", "json-2"]

    def stored(key: str) -> dict:
        values = Outbox.objects.filter(dedup_key=key).values().get()
        for name in ("id", "dedup_key", "created_at"):
            values.pop(name)
        return values

    assert stored("json-1") == stored("orm-1")
    assert stored("json-1")["next_attempt_at"] == at and stored("json-1")["payload"] == payload

    # A JSON field's value that JSON cannot hold is refused, as by JSONField itself.
    odd = row("odd")
    odd.payload = {"amount": Decimal("1.50")}
    with pytest.raises(TypeError), transaction.atomic():
        Outbox.objects.bulk_create([odd])
    with pytest.raises(TypeError), transaction.atomic():
        bulk_insert.insert_rows(connection, [odd, row("json-3")])


@postgres_only
def test_each_column_read_for_the_json_document_is_what_get_db_prep_save_gives(db):
    """config.bulk_insert reads the common exact types (str, int, bool, aware datetimes,
    UUIDs, ids) straight from the instance; any other value takes Django's path. Both
    give the same JSON value, for every field of the models the engine inserts."""
    import json
    import uuid

    from approvals.choices import TaskState
    from approvals.models import Task
    from audit.models import AuditEvent

    person = PersonFactory()
    aware = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
    outbox = Outbox(
        dedup_key="k", kind="task_assigned", channel="email", recipient=person, payload={"a": 1},
        next_attempt_at=aware, queued_at=aware.astimezone(timezone_of(-5)), attempts=3,
    )
    odd_outbox = Outbox(
        dedup_key=Text("subclass"), kind="task_reminder", channel="slack", recipient_id=person.pk,
        next_attempt_at=aware, attempts=Count(2), last_error=None,
    )
    event = AuditEvent(
        at=aware, chain="request:1", seq=7, request_id=None, workflow_key="", event_type="x",
        actor={"user": "system"}, prev_hash="0" * 64, hash="1" * 64, imported=True,
    )
    odd_event = AuditEvent(
        id=str(uuid.uuid4()), at=aware, chain="request:2", seq=Count(1), request_id=2,
        workflow_version=3, event_type="y", prev_hash="0" * 64, hash="2" * 64,
    )
    task = Task(request_id=5, step_id="s", assignee=person, state=TaskState.OPEN, due_at=aware)
    for row in (outbox, odd_outbox, event, odd_event, task):
        plan = bulk_insert._plan(connection, type(row), None, ())
        for field, (column, read) in zip(plan.fields, plan.readers, strict=True):
            auto = getattr(field, "auto_now_add", False)
            expected = bulk_insert._column_value(
                field.get_db_prep_save(field.pre_save(row, add=True), connection)
            )
            got = read(row, connection)
            if auto:  # a new time at each read: same kind of value
                assert type(got) is type(expected), column
                continue
            if isinstance(field, type(Outbox._meta.get_field("payload"))):
                # JSON columns: the value itself, as before (no encoder on these models).
                assert field.encoder is None and got == field.pre_save(row, add=True), column
                continue
            # What the document carries: the same JSON text (Django's path wraps ints in
            # psycopg's Int4 / Int8, which JSON writes as the number).
            assert json.dumps(got) == json.dumps(expected), column


class Text(str):
    """A str subclass (as a choices enum is): read through Django's path."""


class Count(int):
    pass


def timezone_of(hours: int):
    from datetime import timezone

    return timezone(timedelta(hours=hours))
