"""The SLA sweep: due work in batches, each rung once, never two sweepers on one task."""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from approvals import services, sla
from approvals.models import Request, Task
from approvals.notifications.models import Outbox
from approvals.tasks import sweep_sla_task
from audit.models import AuditEvent
from tests.conftest import postgres_only
from tests.notifications.flows import STRICT, publish, submit

pytestmark = pytest.mark.django_db


def failing_on(monkeypatch, task_ids: set[int]) -> set[int]:
    """The engine's SLA action fails ("boom") on these tasks, for as long as they stay
    in the set returned (clear it: mended)."""
    real = sla.services.sla_act

    def flaky(*, task_id, now):
        if task_id in task_ids:
            raise RuntimeError("boom")
        return real(task_id=task_id, now=now)

    monkeypatch.setattr(sla.services, "sla_act", flaky)
    return task_ids


def minutes(request: Request, n: int):
    return request.created_at + timedelta(minutes=n)


def test_each_rung_acts_once_at_its_time(strict, requester, manager, grandboss, committed):
    request = submit(requester, "strict")
    mail.outbox.clear()
    assert not sla.sweep(now=minutes(request, 10)).acted

    with committed():
        first = sla.sweep(now=minutes(request, 31))
    assert list(first.acted.values()) == [["reminded"]]
    [reminder] = Outbox.objects.filter(kind="task_reminder")
    assert reminder.recipient == manager and reminder.state == "sent"
    assert "Reminder:" in mail.outbox[0].subject
    assert not sla.sweep(now=minutes(request, 31)).acted  # idempotent
    assert not sla.sweep(now=minutes(request, 45)).acted

    escalated = sla.sweep(now=minutes(request, 61))
    assert escalated.counts == {"escalated": 1}
    new = Task.objects.get(request=request, state="open")
    assert new.assignee == grandboss and new.on_behalf_of == manager
    assert not sla.sweep(now=minutes(request, 61)).acted

    assert sla.sweep(now=minutes(request, 91)).counts == {"auto_reject": 1}
    request.refresh_from_db()
    assert request.state == "rejected"
    assert not sla.sweep(now=minutes(request, 500)).acted
    kinds = list(
        AuditEvent.objects.filter(request_id=request.pk, actor__user="system")
        .order_by("seq")
        .values_list("event_type", flat=True)
    )
    assert kinds.count("reminder_sent") == 1 and kinds.count("task_escalated") == 1


def test_the_sweep_goes_through_every_due_request_in_batches(strict, requester, manager):
    due = [submit(requester, "strict") for _ in range(5)]
    later = submit(requester, "strict")
    Task.objects.filter(request=later).update(sla_next_at=minutes(later, 24 * 60))
    result = sla.sweep(now=minutes(due[-1], 31), batch_size=2)
    assert result.counts == {"reminded": 5}
    assert result.batches == 3
    due_tasks = Task.objects.filter(request__in=due).values_list("pk", flat=True)
    assert set(result.acted) == set(due_tasks)
    assert Task.objects.get(request=later).reminded_at is None


def test_one_failing_task_does_not_stop_the_sweep(
    strict, requester, manager, grandboss, monkeypatch, caplog
):
    """The batch fails as a whole, so the sweep redoes it one task at a time: the task
    that fails again is reported, the others are acted on, nothing is half done."""
    a, b = submit(requester, "strict", amount=666), submit(requester, "strict")
    Task.objects.filter(request__in=[a, b]).update(reminded_at=a.created_at)
    task_a = Task.objects.get(request=a)
    real = services.sla.route

    def flaky(ref, **kwargs):
        if kwargs["inputs"]["amount"] == "666.00":
            raise RuntimeError("boom")
        return real(ref, **kwargs)

    monkeypatch.setattr(services.sla, "route", flaky)
    result = sla.sweep(now=minutes(b, 61))
    assert result.errors == {task_a.pk: "RuntimeError: boom"}
    assert result.counts == {"escalated": 1}
    assert "one task at a time" in caplog.text
    assert Task.objects.get(pk=task_a.pk).state == "open"
    assert not AuditEvent.objects.filter(request_id=a.pk, event_type="task_escalated").exists()
    assert Task.objects.filter(request=b, state="escalated").count() == 1


def test_a_failing_automatic_action_does_not_stop_the_sweep(
    strict, requester, manager, monkeypatch
):
    a, b = submit(requester, "strict"), submit(requester, "strict")
    task_a = Task.objects.get(request=a)
    failing_on(monkeypatch, {task_a.pk})
    result = sla.sweep(now=minutes(b, 91))
    assert result.errors == {task_a.pk: "RuntimeError: boom"}
    assert result.counts == {"auto_reject": 1}
    b.refresh_from_db()
    assert b.state == "rejected"


def test_a_task_the_engine_fails_on_is_looked_at_again_later(
    strict, requester, manager, settings, monkeypatch, caplog
):
    """Not by every minute's passes (each would fail and log again, and a batch of
    such tasks would look like a backlog): after SLA_RETRY_SECONDS, its rungs intact."""
    settings.SLA_RETRY_SECONDS = 600
    a, b = submit(requester, "strict"), submit(requester, "strict")
    task_a = Task.objects.get(request=a)
    broken = failing_on(monkeypatch, {task_a.pk})
    now = minutes(b, 91)  # automatic actions: one task at a time
    assert sla.sweep(now=now).errors == {task_a.pk: "RuntimeError: boom"}
    task_a.refresh_from_db()
    assert task_a.state == "open" and task_a.sla_next_at == now + timedelta(seconds=600)
    assert task_a.auto_action_at <= now  # its rungs are untouched: still due
    caplog.clear()
    for later in (1, 5, 9):  # the next minutes' passes leave it alone
        result = sla.sweep(now=now + timedelta(minutes=later))
        assert not result.errors and not result.acted
    assert "task" not in caplog.text
    broken.clear()  # mended meanwhile: the look after the delay acts
    result = sla.sweep(now=now + timedelta(minutes=10))
    assert result.counts == {"auto_reject": 1} and not result.errors
    a.refresh_from_db()
    assert a.state == "rejected"


def test_a_task_that_cannot_even_be_put_off_does_not_stop_the_sweep(
    strict, requester, manager, monkeypatch, caplog
):
    a, b = submit(requester, "strict"), submit(requester, "strict")
    task_a = Task.objects.get(request=a)
    def refused(**kwargs):
        raise RuntimeError("no")

    failing_on(monkeypatch, {task_a.pk})
    monkeypatch.setattr(sla.services, "sla_put_off", refused)
    result = sla.sweep(now=minutes(b, 91))
    assert result.errors == {task_a.pk: "RuntimeError: boom"}
    assert result.counts == {"auto_reject": 1}
    assert "could not be put off" in caplog.text


def test_a_pass_gives_the_heap_it_set_aside_back(strict, requester, manager, monkeypatch):
    request = submit(requester, "strict")
    frozen: list[int] = []
    act_many = services.sla_act_many

    def watched(**kwargs):
        frozen.append(gc.get_freeze_count())
        return act_many(**kwargs)

    monkeypatch.setattr(services, "sla_act_many", watched)
    assert gc.get_freeze_count() == 0
    assert sla.sweep(now=minutes(request, 31)).counts == {"reminded": 1}
    assert frozen[0] > 0  # set aside during the pass
    assert gc.get_freeze_count() == 0  # and back with the collector after it


def test_a_pass_leaves_what_someone_else_froze_frozen(strict, requester, manager):
    request = submit(requester, "strict")
    gc.freeze()  # as a pre-fork hook would
    try:
        frozen = gc.get_freeze_count()
        assert sla.sweep(now=minutes(request, 31)).counts == {"reminded": 1}
        # Still frozen (less what the pass freed by reference counting), not unfrozen.
        assert gc.get_freeze_count() > frozen // 2
    finally:
        gc.unfreeze()


def test_the_command_runs_one_pass_and_says_what_it_did(strict, requester, manager):
    request = submit(requester, "strict")
    out = StringIO()
    call_command("sweep_sla", "--now", minutes(request, 31).isoformat(), stdout=out)
    text = out.getvalue()
    assert "sla: 1 task(s) on 1 request(s): reminded=1" in text
    assert "outbox:" in text
    out = StringIO()
    call_command("sweep_sla", "--now", minutes(request, 31).isoformat(), stdout=out)
    assert "nothing due" in out.getvalue()


@pytest.mark.parametrize(
    "bad", [["--now", "yesterday"], ["--now", "2026-01-01T00:00"], ["--batch-size", "0"]]
)
def test_the_command_refuses_bad_arguments(bad, db):
    with pytest.raises(CommandError):
        call_command("sweep_sla", *bad, stdout=StringIO())


def test_the_celery_task_runs_the_sweep(strict, requester):
    submit(requester, "strict")
    assert sweep_sla_task.delay().get().startswith("sla: 0 task(s)")


def make_due(requests: list[Request]):
    """Their tasks' reminders came due a minute ago; returns that moment."""
    past = timezone.now() - timedelta(minutes=1)
    Task.objects.filter(request__in=requests).update(remind_at=past, sla_next_at=past)
    return past


@pytest.fixture
def fan_out(monkeypatch) -> list[dict]:
    """The keyword arguments of every sweep pass the beat's pass asks for."""
    asked: list[dict] = []
    apply_async = sweep_sla_task.apply_async

    def record(*args, **kwargs):
        asked.append(kwargs)
        return apply_async(*args, **kwargs)

    monkeypatch.setattr(sweep_sla_task, "apply_async", record)
    return asked


@postgres_only
def test_a_backlog_is_swept_by_several_passes_as_of_one_moment(
    strict, requester, manager, settings, fan_out
):
    settings.SLA_SWEEP_BATCH_SIZE, settings.SLA_SWEEPERS = 2, 3
    due = [submit(requester, "strict") for _ in range(5)]
    make_due(due)
    assert sla.helpers_wanted(timezone.now()) == 2
    sweep_sla_task()
    # Two more passes, as of the beat's moment, dropped if no worker starts them in time.
    assert [sorted(kw) for kw in fan_out] == [["expires", "kwargs"]] * 2
    [moment] = {kw["kwargs"]["as_of"] for kw in fan_out}
    assert timezone.now() - timedelta(seconds=30) < datetime.fromisoformat(moment)
    assert {kw["expires"] for kw in fan_out} == {60}
    # Each task reminded once, whichever pass got it (the passes ran one after another
    # here; test_sweepers_racing_over_batches_act_on_each_task_once races them).
    events = AuditEvent.objects.filter(request_id__in=[r.pk for r in due], actor__via="sla")
    assert sorted(events.values_list("event_type", flat=True)) == ["reminder_sent"] * 5
    assert not sla.due_tasks(timezone.now()).exists()


def test_on_sqlite_a_backlog_is_swept_by_one_pass(
    strict, requester, manager, settings, fan_out
):
    """One writer at a time: a second sweeper would only wait, and make decisions wait."""
    if connection.features.has_select_for_update_skip_locked:
        pytest.skip("a database with SKIP LOCKED fans out (the test above)")
    settings.SLA_SWEEP_BATCH_SIZE, settings.SLA_SWEEPERS = 2, 3
    make_due([submit(requester, "strict") for _ in range(5)])
    assert sla.helpers_wanted(timezone.now()) == 0
    assert sweep_sla_task().startswith("sla: 5 task(s)")
    assert fan_out == []


@postgres_only
def test_a_broker_that_refuses_helpers_leaves_the_pass_to_sweep_alone(
    strict, requester, manager, settings, monkeypatch, caplog
):
    settings.SLA_SWEEP_BATCH_SIZE, settings.SLA_SWEEPERS = 2, 3
    make_due([submit(requester, "strict") for _ in range(5)])
    asked: list[dict] = []

    def refuse(*args, **kwargs):
        asked.append(kwargs)
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(sweep_sla_task, "apply_async", refuse)
    assert sweep_sla_task().startswith("sla: 5 task(s)")
    assert len(asked) == 1  # not tried again for the second helper
    assert "no helper pass could be asked for" in caplog.text


def test_a_pass_with_no_backlog_sweeps_alone(strict, requester, manager, settings, fan_out):
    settings.SLA_SWEEP_BATCH_SIZE, settings.SLA_SWEEPERS = 2, 3
    due = [submit(requester, "strict") for _ in range(2)]
    make_due(due)
    assert sla.helpers_wanted(timezone.now()) == 0  # exactly one batch is due
    assert sweep_sla_task().startswith("sla: 2 task(s)")
    assert fan_out == []
    settings.SLA_SWEEPERS = 1
    make_due([submit(requester, "strict") for _ in range(4)])
    assert sla.helpers_wanted(timezone.now()) == 0  # one sweeper configured
    assert sweep_sla_task().startswith("sla: 4 task(s)")
    assert fan_out == []


def test_a_pass_asked_for_sweeps_as_of_its_moment(strict, requester, manager, fan_out):
    request = submit(requester, "strict")
    at = minutes(request, 31)
    assert sweep_sla_task(as_of=(at - timedelta(minutes=2)).isoformat()).startswith(
        "sla: 0 task(s)"
    )
    assert sweep_sla_task(as_of=at.isoformat()).startswith("sla: 1 task(s)")
    assert fan_out == []  # a pass asked for never asks for more


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_sweepers_racing_escalate_once(admins_role, requester, manager, grandboss):
    publish(STRICT)
    requests = [submit(requester, "strict") for _ in range(4)]
    Task.objects.filter(request__in=requests).update(reminded_at=requests[0].created_at)
    now = minutes(requests[-1], 61)
    barrier = threading.Barrier(4)
    results: list[sla.SweepResult] = []

    def sweeper() -> None:
        try:
            barrier.wait()
            results.append(sla.sweep(now=now, batch_size=1))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.counts["escalated"] for r in results) == 4
    assert all(not r.errors for r in results)
    for request in requests:
        assert Task.objects.filter(request=request, state="escalated").count() == 1
        assert Task.objects.filter(request=request, state="open").count() == 1
        assert (
            AuditEvent.objects.filter(request_id=request.pk, event_type="task_escalated").count()
            == 1
        )


@contextmanager
def decision_in_progress(request: Request) -> Iterator[None]:
    """Another thread holds ``request``'s row lock, as a decision does, until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Request.objects.select_for_update().get(pk=request.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(5)
    try:
        yield
    finally:
        release.set()
        holder.join()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_request_locked_by_a_decision_is_skipped_not_waited_for(admins_role, requester, manager):
    publish(STRICT)
    request = submit(requester, "strict")
    with decision_in_progress(request):
        assert not sla.sweep(now=minutes(request, 31)).acted
    assert sla.sweep(now=minutes(request, 31)).counts == {"reminded": 1}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_sweeper_claims_past_the_requests_someone_holds(admins_role, requester, manager):
    publish(STRICT)
    held, *others = [submit(requester, "strict") for _ in range(3)]
    now = minutes(others[-1], 31)
    # The held request is the first due: a claim that stopped at it would do nothing.
    Task.objects.filter(request=held).update(sla_next_at=now - timedelta(minutes=20))
    with decision_in_progress(held):
        result = sla.sweep(now=now, batch_size=1)
    assert result.counts == {"reminded": 2}
    assert set(result.acted) == set(
        Task.objects.filter(request__in=others).values_list("pk", flat=True)
    )
    assert sla.sweep(now=now).counts == {"reminded": 1}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_sweepers_racing_over_batches_act_on_each_task_once(
    admins_role, requester, manager, grandboss
):
    publish(STRICT)
    reminders = [submit(requester, "strict") for _ in range(6)]
    escalations = [submit(requester, "strict") for _ in range(6)]
    now = minutes(escalations[-1], 61)
    Task.objects.filter(request__in=escalations).update(reminded_at=now - timedelta(minutes=30))
    Task.objects.filter(request__in=reminders).update(
        escalate_at=now + timedelta(hours=1), sla_next_at=F("remind_at")
    )
    barrier = threading.Barrier(4)
    results: list[sla.SweepResult] = []

    def sweeper() -> None:
        try:
            barrier.wait()
            results.append(sla.sweep(now=now, batch_size=2))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum((r.counts for r in results), Counter()) == {"reminded": 6, "escalated": 6}
    assert all(not r.errors for r in results)
    for request in reminders:
        events = AuditEvent.objects.filter(request_id=request.pk, actor__via="sla")
        assert list(events.values_list("event_type", flat=True)) == ["reminder_sent"]
        assert Outbox.objects.filter(request=request, kind="task_reminder").count() == 1
    for request in escalations:
        events = AuditEvent.objects.filter(request_id=request.pk, actor__via="sla")
        assert list(events.values_list("event_type", flat=True)) == ["task_escalated"]
        assert Task.objects.filter(request=request, state="escalated").count() == 1
        kinds = Outbox.objects.filter(request=request).exclude(
            kind="task_assigned", task__replaces=None
        )
        assert sorted(kinds.values_list("kind", flat=True)) == [
            "task_assigned",
            "task_escalated",
            "task_escalated",
        ]


class Killed(BaseException):
    """What a process killed mid-batch looks like to the code: nothing catches it."""


def test_a_sweep_killed_mid_way_resumes_without_acting_twice(
    strict, requester, manager, monkeypatch
):
    requests = [submit(requester, "strict") for _ in range(5)]
    now = minutes(requests[-1], 31)
    real = services.sla.notify_many
    calls: list[int] = []

    def dies_in_the_second_batch(messages):
        calls.append(len(messages))
        if len(calls) == 2:
            raise Killed
        return real(messages)

    monkeypatch.setattr(services.sla, "notify_many", dies_in_the_second_batch)
    with pytest.raises(Killed):
        sla.sweep(now=now, batch_size=2)
    reminded = Task.objects.filter(request__in=requests, reminded_at__isnull=False)
    assert reminded.count() == 2  # the first batch committed; the second rolled back whole
    assert AuditEvent.objects.filter(event_type="reminder_sent").count() == 2
    assert Outbox.objects.filter(kind="task_reminder").count() == 2

    monkeypatch.undo()
    assert sla.sweep(now=now, batch_size=2).counts == {"reminded": 3}
    for request in requests:
        assert (
            AuditEvent.objects.filter(request_id=request.pk, event_type="reminder_sent").count()
            == 1
        )
        assert Outbox.objects.filter(request=request, kind="task_reminder").count() == 1
