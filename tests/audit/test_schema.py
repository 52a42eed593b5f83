"""The audit tables' indexes: the ones queries need, not more (each one is written
by every event insert)."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from audit.verify import verify_all
from tests.conftest import postgres_only

from .conftest import new_request

# Each serves a query named in audit/models.py (GIN: ?inputs.F=V, migration 0003).
INDEXES = {
    "audit_auditevent": {
        "audit_auditevent_pkey",
        "audit_auditevent_at_f461ba89",
        "audit_auditevent_recorded_at_817e681d",
        "auditevent_chain_seq",
        "audit_request_seq",
        "audit_wf_type_at",
        "audit_type_at_seq_amount",
        "audit_actor_at",
        "audit_behalf_at",
        "audit_inputs_gin",
    },
    "audit_archivedevent": {
        "audit_archivedevent_pkey",
        "audit_archivedevent_at_fc524013",
        "audit_archivedevent_archive_id_92545405",
        "archivedevent_chain_seq",
        "archivedevent_file_line",
        "archived_request_seq",
        "archived_wf_type_at",
        "archived_type_at_seq_amount",
        "archived_actor_at",
        "archived_behalf_at",
        "archived_inputs_gin",
    },
}

# JSONNumber("amount") on PostgreSQL as migration 0006 indexed it. The planner uses
# the index only for this very expression: if JSONNumber's SQL changes, the indexes
# of existing databases must be rebuilt by a new migration (and this updated).
AMOUNT_INDEX_END = (
    "(event_type, at, seq, ( CASE WHEN ((inputs ->> 'amount'::text) ~ "
    r"'^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$'::text) "
    "THEN ((inputs ->> 'amount'::text))::numeric ELSE NULL::numeric END))"
)


def indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = %s",
            [table],
        )
        return dict(cursor.fetchall())


@postgres_only
@pytest.mark.parametrize("table", list(INDEXES))
def test_the_event_tables_carry_only_the_indexes_queries_use(db, table):
    """No hash index (nothing reads by hash), no (event_type, at) beside its
    longer form, no varchar_pattern_ops index for LIKE queries nobody makes."""
    assert set(indexes(table)) == INDEXES[table]


@postgres_only
@pytest.mark.parametrize(
    ("table", "index"),
    [("audit_auditevent", "audit_type_at_seq_amount"),
     ("audit_archivedevent", "archived_type_at_seq_amount")],
)
def test_the_amount_index_holds_the_expression_the_filter_compares(db, table, index):
    assert " ".join(indexes(table)[index].split()).endswith(AMOUNT_INDEX_END)


@pytest.fixture
def submitted(purchase_order, requester, emit) -> AuditEvent:
    return emit(new_request(purchase_order, requester, {}), "request_submitted", "requester")


def copy_of(event: AuditEvent, **changes) -> AuditEvent:
    copy = AuditEvent.objects.get(pk=event.pk)
    copy.id = uuid.uuid4()
    for name, value in changes.items():
        setattr(copy, name, value)
    copy._state.adding = True
    return copy


def test_a_second_event_at_the_same_place_in_its_chain_is_refused(submitted):
    # PostgreSQL names the constraint, SQLite its columns.
    refused = r"auditevent_chain_seq|audit_auditevent\.chain, audit_auditevent\.seq"
    with pytest.raises(IntegrityError, match=refused), transaction.atomic():
        copy_of(submitted).save()


def test_an_event_carrying_another_events_hash_is_named_by_verify(submitted):
    """Hashes are not unique in the database: what makes a hash name one event is
    that it must be the SHA-256 of its own material, chain and seq included."""
    copy = copy_of(submitted, seq=2)  # the chain's next place, the first event's hash
    copy.save()
    result = verify_all()
    assert not result.ok
    assert result.first_broken == str(copy.id)
