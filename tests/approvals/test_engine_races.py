"""Races that really race: threads with their own connections on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from approvals import services
from approvals.errors import ApprovalError
from approvals.models import Decision, Task
from audit.models import AuditEvent
from tests.approvals.conftest import open_tasks, publish
from tests.conftest import postgres_only
from tests.factories import PersonFactory, RoleFactory, add_members

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def race(n: int, action) -> Counter:
    """Run ``action(i)`` in n threads released at the same instant; count outcomes."""
    barrier = threading.Barrier(n)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait()
            action(i)
            result = "ok"
        except ApprovalError as exc:
            result = type(exc).__name__
        except Exception as exc:
            result = f"crash:{type(exc).__name__}:{exc}"
        finally:
            connection.close()
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


TWO_STEPS = """
workflow: two_steps
title: Two steps
steps:
  - id: first
    type: parallel
    approvers: board
    quorum: any
  - id: second
    approver: "user:closer"
"""


def test_twenty_threads_deciding_one_task_make_exactly_one_decision(
    purchase_order, requester, manager
):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    task = open_tasks(request)[0]

    outcomes = race(20, lambda i: services.decide(
        task_id=task.pk, actor=manager, decision="approve", comment=f"click {i}"))

    assert outcomes == Counter({"ok": 1, "Conflict": 19})
    assert Decision.objects.filter(task=task).count() == 1
    request.refresh_from_db()
    assert request.state == "approved"
    assert AuditEvent.objects.filter(request_id=request.pk,
                                     event_type="request_approved").count() == 1


def test_three_approvers_of_a_quorum_any_step_close_it_once_and_plan_the_next_once(
    admins_role, requester, grandboss
):
    board = [PersonFactory(username=f"board{i}", manager=grandboss) for i in range(3)]
    add_members(RoleFactory(name="board"), *board)
    closer = PersonFactory(username="closer", manager=grandboss)
    publish(TWO_STEPS)
    request = services.submit(workflow_key="two_steps", requester=requester, inputs={})
    tasks = open_tasks(request)
    assert len(tasks) == 3

    outcomes = race(3, lambda i: services.decide(
        task_id=tasks[i].pk, actor=tasks[i].assignee, decision="approve"))

    assert outcomes == Counter({"ok": 1, "Conflict": 2})
    request.refresh_from_db()
    assert request.current_step == "second"
    assert Task.objects.filter(request=request, step_id="second").count() == 1
    assert Task.objects.get(request=request, step_id="second").assignee == closer
    closed = AuditEvent.objects.filter(request_id=request.pk, event_type="step_closed")
    assert closed.count() == 1
    seqs = list(AuditEvent.objects.filter(request_id=request.pk).order_by("seq")
                .values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)), "the audit chain has no gap or fork"
