"""The hash chain: written by record_event, refused changes, caught tampering."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.db import transaction

from audit.checkpoints import create_checkpoint
from audit.hashing import GENESIS_HASH, compute_hash
from audit.models import AppendOnlyError, AuditEvent
from audit.services import Actor, record_event
from audit.verify import verify_all

from .conftest import new_request, tamper


@pytest.fixture
def order(purchase_order, requester):
    return new_request(purchase_order, requester, {"amount": "1200.00", "vendor": "Acme"})


def test_events_of_a_request_form_a_gapless_chain(order, emit):
    first = emit(order, "request_submitted", "requester")
    second = emit(order, "task_assigned", "system")
    third = emit(order, "task_decided", "manager")
    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert first.chain == f"request:{order.pk}"
    stored = AuditEvent.objects.get(pk=third.pk)
    assert compute_hash(stored) == stored.hash  # what is read back hashes the same


def test_record_event_refuses_to_run_outside_a_transaction(transactional_db, order):
    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        record_event(event_type="comment_added", actor=Actor("x"), request_id=order.pk)


def test_the_application_cannot_change_or_delete_an_event(order, emit):
    event = emit(order, "request_submitted", "requester")
    event.event_type = "request_approved"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(event_type="request_approved")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).event_type == "request_submitted"


def test_verify_passes_on_an_untouched_trail(order, emit, capsys):
    emit(order, "request_submitted", "requester")
    emit(order, "request_approved", "manager", state="approved")
    create_checkpoint()
    result = verify_all()
    assert result.ok and result.checked == 3  # two events and one checkpoint
    call_command("audit_verify")
    assert "OK" in capsys.readouterr().out


def test_an_altered_row_is_named_by_verify(order, emit, capsys):
    emit(order, "request_submitted", "requester")
    decided = emit(order, "task_decided", "manager", payload={"decision": "reject"})
    emit(order, "request_rejected", "manager", state="rejected")
    tamper(
        "UPDATE audit_auditevent SET payload = %s WHERE hash = %s",
        ['{"decision": "approve"}', decided.hash],
    )
    result = verify_all()
    assert not result.ok
    assert result.first_broken == str(decided.id)
    assert "altered" in result.reason
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_verify")
    assert exit_info.value.code == 1
    assert str(decided.id) in capsys.readouterr().err


@pytest.mark.parametrize(
    "value",
    [1e-7, 2**70, "\u2028 é 😀 \x01"],
    ids=["small float", "huge integer", "odd text"],
)
def test_verify_hashes_every_json_value_as_it_was_written(order, emit, value):
    """verify reads events back with a faster JSON codec than the writer's, which
    spells a few values otherwise (1e-07 vs 1e-7) or not at all (beyond 64 bits):
    those events still verify, and altering them is still caught."""
    event = emit(order, "task_decided", "manager", payload={"value": value, "n": [value]})
    assert verify_all().ok
    tamper(
        "UPDATE audit_auditevent SET payload = %s WHERE hash = %s",
        [json.dumps({"value": value, "n": [0]}), event.hash],
    )
    result = verify_all()
    assert not result.ok and result.first_broken == str(event.id)


def test_a_rewritten_chain_is_caught_by_the_checkpoint(order, emit):
    """Rehashing an altered event keeps its chain consistent; the checkpoint still knows."""
    emit(order, "request_submitted", "requester")
    last = emit(order, "request_approved", "manager", state="approved")
    create_checkpoint()
    forged = AuditEvent.objects.get(pk=last.pk)
    forged.actor = {"user": "mallory", "role": None, "on_behalf_of": None, "via": "web"}
    forged_hash = compute_hash(forged)
    tamper(
        "UPDATE audit_auditevent SET actor = %s, actor_username = 'mallory', hash = %s "
        "WHERE hash = %s",
        ['{"user": "mallory", "role": null, "on_behalf_of": null, "via": "web"}', forged_hash,
         last.hash],
    )
    result = verify_all()
    assert not result.ok
    assert result.first_broken == str(last.id)
    assert result.checkpoint == 1


def test_deleting_every_event_of_a_request_is_caught_by_the_checkpoint(
    purchase_order, requester, emit
):
    kept = new_request(purchase_order, requester, {"amount": "10.00"})
    erased = new_request(purchase_order, requester, {"amount": "99999.00"})
    emit(kept, "request_submitted", "requester")
    emit(erased, "request_submitted", "requester")
    head = emit(erased, "request_approved", "manager", state="approved")
    checkpoint = create_checkpoint()
    assert checkpoint is not None and checkpoint.entry_count == 2
    assert verify_all().ok
    tamper("DELETE FROM audit_auditevent WHERE request_id = %s", [erased.pk])
    result = verify_all()
    assert not result.ok
    assert result.first_broken == str(head.id)
    assert result.chain == f"request:{erased.pk}" and result.seq == 2


def test_a_deleted_middle_event_breaks_the_chain(order, emit):
    emit(order, "request_submitted", "requester")
    middle = emit(order, "task_assigned", "system")
    after = emit(order, "task_decided", "manager")
    tamper("DELETE FROM audit_auditevent WHERE hash = %s", [middle.hash])
    result = verify_all()
    assert result.first_broken == str(after.id)
    assert "missing" in result.reason


def test_checkpoints_record_only_heads_that_moved(purchase_order, requester, emit):
    a = new_request(purchase_order, requester, {})
    b = new_request(purchase_order, requester, {})
    emit(a, "request_submitted", "requester")
    emit(b, "request_submitted", "requester")
    assert create_checkpoint().entry_count == 2
    assert create_checkpoint() is None  # nothing moved
    emit(a, "task_decided", "manager")
    second = create_checkpoint()
    assert second.seq == 2 and second.entry_count == 1
    assert verify_all().ok


def test_a_workflow_event_chains_per_workflow(db):
    with transaction.atomic():
        one = record_event(
            event_type="workflow_published", actor=Actor("author"), workflow_key="leave",
            workflow_version=1,
        )
        two = record_event(
            event_type="workflow_published", actor=Actor("author"), workflow_key="leave",
            workflow_version=2,
        )
    assert one.chain == two.chain == "workflow:leave"
    assert two.prev_hash == one.hash


def test_the_beat_tasks_and_the_checkpoint_command_run_the_services(order, emit, settings, capsys):
    from audit.tasks import archive_task, checkpoint_task

    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"audit.tasks.checkpoint_task", "audit.tasks.archive_task"} <= schedule
    emit(order, "request_submitted", "requester")
    assert checkpoint_task.delay().get() == 1
    call_command("audit_checkpoint")
    assert "no chain changed" in capsys.readouterr().out
    emit(order, "comment_added", "requester")
    call_command("audit_checkpoint")
    assert "checkpoint #2: 1 chain heads" in capsys.readouterr().out
    assert archive_task.delay().get() == 0  # nothing is older than the hot window
