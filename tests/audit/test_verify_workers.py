"""audit_verify in several processes: the same answer as one, faults included."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction

from audit.checkpoints import create_checkpoint
from audit.hot_rows import ALL_CHAINS, chain_ranges, hot_rows
from audit.models import AuditEvent
from audit.verify import verify_all
from tests.conftest import postgres_only

from .conftest import new_request, tamper

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trail(purchase_order, requester, emit):
    """Twelve requests of three to five events each, and a checkpoint."""
    requests = []
    for n in range(12):
        request = new_request(purchase_order, requester, {"amount": f"{n * 1000}.00"})
        emit(request, "request_submitted", "requester")
        for _ in range(2 + n % 3):
            emit(request, "task_decided", "manager", payload={"decision": "approve"})
        requests.append(request)
    create_checkpoint()
    return requests


def chains_in_order() -> list[str]:
    return list(AuditEvent.objects.order_by("chain").values_list("chain", flat=True).distinct())


def test_chain_ranges_cover_every_chain_once_in_order(trail):
    ranges = chain_ranges(3)
    assert len(ranges) == 3
    assert ranges[0].first is None and ranges[-1].end is None
    seen = []
    with transaction.atomic():
        for chains in ranges:
            rows = list(hot_rows(chains, chunk_size=7))
            assert rows, chains  # about a third each
            seen += [row[2] for row in rows]
        assert seen == [row[2] for row in hot_rows(ALL_CHAINS, chunk_size=100)]
    assert list(dict.fromkeys(seen)) == chains_in_order()


def test_workers_verify_an_untouched_trail_like_one_process(trail, capsys):
    one = verify_all()
    assert one.ok and one.checked == AuditEvent.objects.count() + 1  # and the checkpoint
    call_command("audit_verify", "--workers", "2")
    assert f"OK: {one.checked} events" in capsys.readouterr().out


def test_workers_name_the_same_first_fault_as_one_process(trail):
    chains = chains_in_order()
    # A fault in a late chain and one in an early chain: both walks name the early one.
    late = AuditEvent.objects.filter(chain=chains[-2]).order_by("seq")[1]
    early = AuditEvent.objects.filter(chain=chains[4]).order_by("seq")[2]
    for event in (late, early):
        tamper(
            "UPDATE audit_auditevent SET payload = %s WHERE id = %s",
            ['{"decision": "reject"}', event.pk],
        )
    one = verify_all()
    assert not one.ok and one.first_broken == str(early.pk) and "altered" in one.reason
    for workers in (2, 3):  # (each process starts Django afresh: a second or two)
        assert verify_all(workers=workers) == one


def test_workers_name_a_missing_event_like_one_process(trail):
    chains = chains_in_order()
    gone = AuditEvent.objects.filter(chain=chains[7]).order_by("seq")[1]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [gone.pk])
    one = verify_all()
    assert not one.ok and one.chain == chains[7] and "missing" in one.reason
    assert verify_all(workers=3) == one


def test_workers_refuse_to_run_inside_a_transaction(trail):
    """They would not see what the transaction wrote."""
    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a transaction"):
        verify_all(workers=2)
