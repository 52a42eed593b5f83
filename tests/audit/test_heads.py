"""record_event reads a chain's head once per transaction, and never a stale one."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import services as audit_services
from audit.hashing import GENESIS_HASH
from audit.models import AuditEvent
from audit.services import Actor, record_event, record_events
from audit.verify import verify_all
from config import bulk_insert
from tests.conftest import postgres_only

from .conftest import new_request


class Oops(Exception):
    pass


@pytest.fixture
def order(purchase_order, requester):
    return new_request(purchase_order, requester, {"amount": "1200.00"})


def write(request, event_type: str = "comment_added") -> AuditEvent:
    return record_event(
        event_type=event_type,
        actor=Actor(user="requester", via="web"),
        request_id=request.pk,
        workflow_key=request.workflow.key,
        workflow_version=request.workflow_version.number,
    )


def audit_statements(queries) -> tuple[list[str], list[str]]:
    """(head lookups, event inserts) among the captured statements."""
    sql = [q["sql"] for q in queries]
    # On PostgreSQL one chain's head is a prepared statement (config.statements):
    # EXECUTE of it is a lookup, its PREPARE (once per connection) is not.
    lookups = [
        s for s in sql
        if (s.lstrip().startswith("SELECT") and "audit_" in s)
        or s.startswith(f"EXECUTE {audit_services._STORED_HEAD.name}(")
    ]
    # On PostgreSQL the insert is a prepared statement too (config.bulk_insert).
    prepared = tuple(f"EXECUTE {name}(" for name in bulk_insert.statement_names(AuditEvent))
    inserts = [s for s in sql if s.startswith(('INSERT INTO "audit_auditevent"', *prepared))]
    return lookups, inserts


def chain_of(request) -> list[tuple[int, str, str]]:
    return list(
        AuditEvent.objects.filter(request_id=request.pk)
        .order_by("seq")
        .values_list("seq", "prev_hash", "hash")
    )


def assert_gapless(request) -> None:
    prev = GENESIS_HASH
    for number, (seq, prev_hash, event_hash) in enumerate(chain_of(request), 1):
        assert (seq, prev_hash) == (number, prev)
        prev = event_hash


def test_five_events_on_one_chain_in_one_transaction_cost_five_inserts_and_one_lookup(order):
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        events = [write(order) for _ in range(5)]
    lookups, inserts = audit_statements(captured.captured_queries)
    assert (len(lookups), len(inserts)) == (1, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert_gapless(order)


def test_each_chain_is_looked_up_once_per_transaction(purchase_order, requester):
    one = new_request(purchase_order, requester, {})
    two = new_request(purchase_order, requester, {})
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        for request in (one, two, one, two, one):
            write(request)
    lookups, inserts = audit_statements(captured.captured_queries)
    assert (len(lookups), len(inserts)) == (2, 5)
    assert_gapless(one)
    assert_gapless(two)


def test_the_next_transaction_reads_the_head_again(order):
    with transaction.atomic():
        write(order)
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        second = write(order)
    lookups, _ = audit_statements(captured.captured_queries)
    assert len(lookups) == 1
    assert second.seq == 2


def test_a_rolled_back_savepoint_leaves_no_stale_head(order):
    with transaction.atomic():
        write(order)
        kept = write(order)
        with pytest.raises(Oops), transaction.atomic():
            write(order)  # seq 3, rolled back below
            raise Oops
        after = write(order)
    assert (after.seq, after.prev_hash) == (3, kept.hash)
    assert_gapless(order)
    assert verify_all().ok


def test_a_rolled_back_savepoint_that_began_the_cache_leaves_no_stale_head(order):
    """The cache was started inside the savepoint that rolls back."""
    with transaction.atomic():
        with pytest.raises(Oops), transaction.atomic():
            write(order)
            write(order)
            raise Oops
        first = write(order)
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert_gapless(order)


def test_events_in_and_after_a_nested_atomic_block_stay_chained(order):
    with transaction.atomic():
        write(order)
        with transaction.atomic():
            write(order)
            write(order)
        write(order)
    assert [seq for seq, _, _ in chain_of(order)] == [1, 2, 3, 4]
    assert_gapless(order)
    assert verify_all().ok


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_stale_head(purchase_order, requester):
    order = new_request(purchase_order, requester, {})
    with transaction.atomic():
        first = write(order)
    with pytest.raises(Oops), transaction.atomic():
        write(order)
        write(order)
        raise Oops
    with transaction.atomic():
        second = write(order)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert_gapless(order)
    assert verify_all().ok


def test_a_chain_continued_from_the_archive_costs_one_lookup(order, emit, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from audit.archive import archive_events
    from audit.models import ArchivedEvent

    settings.AUDIT_ARCHIVE_DIR = tmp_path
    long_ago = timezone.now() - timedelta(days=settings.AUDIT_HOT_DAYS + 30)
    emit(order, "request_submitted", "requester", at=long_ago)
    last = emit(order, "request_approved", "manager", at=long_ago, state="approved")
    archive_events()
    assert not AuditEvent.objects.filter(request_id=order.pk).exists()
    assert ArchivedEvent.objects.filter(request_id=order.pk).count() == 2
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        comment = write(order)
    lookups, _ = audit_statements(captured.captured_queries)
    assert len(lookups) == 1
    assert (comment.seq, comment.prev_hash) == (3, last.hash)
    assert verify_all().ok


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_writers_taking_turns_on_one_chain_keep_it_gapless(purchase_order, requester):
    """Eight threads, each in its own transaction: lock the request row (as the
    engine does), write three events. Each transaction must read the head the
    previous one committed, not one it remembered."""
    from approvals.models import Request

    order = new_request(purchase_order, requester, {})
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            barrier.wait()
            for _ in range(2):
                with transaction.atomic():
                    Request.objects.select_for_update().get(pk=order.pk)
                    for _ in range(3):
                        write(order)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(chain_of(order)) == 8 * 2 * 3
    assert_gapless(order)
    assert verify_all().ok


def test_record_events_continues_the_chains_the_transaction_wrote_and_one_it_did_not(
    purchase_order, requester
):
    first = new_request(purchase_order, requester, {"amount": "10"})
    second = new_request(purchase_order, requester, {"amount": "20"})
    with transaction.atomic():
        write(second)  # a stored head the batch must read
    many = [
        {
            "event_type": "reminder_sent",
            "actor": Actor(user="system", via="sla"),
            "request_id": r.pk,
            "workflow_key": r.workflow.key,
            "workflow_version": r.workflow_version.number,
            "payload": {"n": n},
        }
        for n, r in enumerate([first, second, first])
    ]
    with transaction.atomic():
        write(first)  # cached head: the batch must not read it again, nor fork
        with CaptureQueriesContext(connection) as queries:
            record_events(many)
        write(first)  # and the cache must know what the batch wrote
    lookups, inserts = audit_statements(queries)
    assert len(lookups) == 1 and len(inserts) == 1  # only `second` was looked up
    assert [seq for seq, _, _ in chain_of(first)] == [1, 2, 3, 4]
    assert_gapless(first)
    assert_gapless(second)
    assert verify_all().ok


def test_record_events_finds_heads_in_either_tier_and_starts_new_chains(
    purchase_order, requester, emit, settings, tmp_path
):
    """Heads of many chains at once (an SLA batch): one archived chain, one hot, one
    without any event yet; each batch event goes after its chain's head."""
    from datetime import timedelta

    from django.utils import timezone

    from audit.archive import archive_events

    settings.AUDIT_ARCHIVE_DIR = tmp_path
    old, hot, new = (new_request(purchase_order, requester, {"amount": str(n)}) for n in (1, 2, 3))
    long_ago = timezone.now() - timedelta(days=settings.AUDIT_HOT_DAYS + 30)
    emit(old, "request_submitted", "requester", at=long_ago)
    archived_head = emit(old, "request_approved", "manager", at=long_ago, state="approved")
    archive_events()
    with transaction.atomic():
        hot_head = write(hot)
    assert not AuditEvent.objects.filter(request_id=new.pk).exists()
    many = [
        {
            "event_type": "reminder_sent",
            "actor": Actor(user="system", via="sla"),
            "request_id": r.pk,
            "workflow_key": r.workflow.key,
            "workflow_version": r.workflow_version.number,
        }
        for r in (old, hot, new)
    ]
    with transaction.atomic():
        after_old, after_hot, first_of_new = record_events(many)
    assert (after_old.seq, after_old.prev_hash) == (3, archived_head.hash)
    assert (after_hot.seq, after_hot.prev_hash) == (hot_head.seq + 1, hot_head.hash)
    assert (first_of_new.seq, first_of_new.prev_hash) == (1, GENESIS_HASH)
    assert verify_all().ok
