"""The benchmark data generator at its smallest scale: the data it makes is data the
engine, the inbox and audit_verify accept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from approvals import selectors, services
from approvals.choices import RequestState, TaskState
from approvals.datagen import BENCH_PASSWORD, Plan, generate
from approvals.models import Request, Task, WorkflowVersion
from audit.checkpoints import create_checkpoint
from audit.models import AuditEvent
from audit.verify import verify_all
from orgchart.models import Absence, Person

TINY = 0.00001  # the floor of every count: 60 people, 4 workflows, 150 open, 20 finished


@pytest.fixture
def generated(db):
    return generate(scale=TINY, seed=7, now=datetime(2026, 11, 20, 12, 0, tzinfo=UTC))


def test_counts_follow_the_plan(generated):
    plan = Plan.for_scale(TINY)
    generated_people = Person.objects.filter(username__startswith="p")
    assert generated_people.count() == plan.people
    assert Request.objects.count() == plan.open_requests + plan.finished_requests
    assert Request.objects.open().count() == plan.open_requests
    assert WorkflowVersion.objects.count() > plan.workflows  # several versions each
    assert Absence.objects.filter(delegate__isnull=False).exists()
    # A span of about 7: far fewer managers than people.
    managers = Person.objects.filter(reports__isnull=False).distinct().count()
    assert plan.people / 12 < managers < plan.people / 3


def test_only_benchmark_users_can_log_in(generated):
    assert not any(p.has_usable_password() for p in Person.objects.filter(username__startswith="p"))
    bench = Person.objects.get(username="bench_inbox")
    assert bench.check_password(BENCH_PASSWORD)


def test_benchmark_inboxes_hold_120_and_10_tasks(generated):
    assert selectors.inbox_for(Person.objects.get(username="bench_inbox")).count() == 120
    assert selectors.inbox_for(Person.objects.get(username="bench_small")).count() == 10


def test_audit_chains_verify_and_the_engine_appends_to_them(generated):
    assert AuditEvent.objects.filter(event_type="request_approved").exists()
    result = verify_all()
    assert result.ok, result.describe()
    assert result.checked == AuditEvent.objects.count()
    # The engine decides a generated task: it appends to the generated chain.
    task = selectors.inbox_for(Person.objects.get(username="bench_inbox")).first()
    services.decide(task_id=task.pk, actor=task.assignee, decision="approve")
    task.refresh_from_db()
    assert task.state == TaskState.APPROVED
    assert task.request.state in (RequestState.PENDING, RequestState.APPROVED)
    events = AuditEvent.objects.filter(request_id=task.request_id).order_by("seq")
    generated_event = events.first()
    engine_event = events.filter(event_type="task_decided", actor_username="bench_inbox").last()
    assert engine_event is not None and engine_event.seq > generated_event.seq
    # The generated events have the engine's snapshot shape.
    assert set(generated_event.snapshot) == set(engine_event.snapshot)
    assert create_checkpoint() is not None
    result = verify_all()
    assert result.ok, result.describe()


def test_open_tasks_have_their_next_rung_ahead(generated):
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert not Task.objects.open().filter(sla_next_at__lte=now).exists()
    assert Task.objects.open().filter(sla_next_at__gt=now).exists()


def test_the_command_refuses_a_database_that_already_holds_generated_data(generated):
    with pytest.raises(CommandError, match="already holds generated data"):
        call_command("generate_data", "--scale", str(TINY))


def test_the_command_refuses_a_bad_scale(db):
    with pytest.raises(CommandError, match="scale"):
        call_command("generate_data", "--scale", "0")
