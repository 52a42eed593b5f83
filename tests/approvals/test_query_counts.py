"""How many queries submit and decide cost: bounds that fail on a regression.

Every step of a request's life in one workflow: submit (the manager step opens),
the manager approves (a role's next member is picked), finance approves (a
parallel step opens for a role of three), one board member approves (quorum
"any": the other two tasks are cancelled and the request is approved). The
bounds count every statement inside the service's transaction (here a savepoint:
the test's transaction is around it); the hand-off to the broker after commit is
counted on its own. The audit writer's chain-head lookup (one per chain and
transaction) and its one INSERT for all of a call's events are in these numbers.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from approvals import services
from approvals.models import Task
from approvals.notifications import delivery
from approvals.notifications.models import Outbox
from tests.approvals.conftest import publish
from tests.factories import PersonFactory, RoleFactory, add_members, side_effects

pytestmark = pytest.mark.django_db

RECIPE = """
workflow: counted
title: Counted
inputs:
  amount: {type: money, required: true, min: 0}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
  - id: finance
    when: amount > 100
    approver: finance-approvers
  - id: board
    type: parallel
    approvers: board
    quorum: any
"""


@pytest.fixture
def _round_tasks_checked():
    """Overrides the engine tests' check (tests/approvals/conftest.py): its extra
    queries would be counted here."""


@pytest.fixture
def counted(admins_role, finance):
    add_members(RoleFactory(name="board"), *[PersonFactory(username=f"b{i}") for i in range(3)])
    return publish(RECIPE)


def open_task(request, step: str) -> Task:
    return Task.objects.select_related("assignee").get(request=request, step_id=step, state="open")


def decide(task: Task) -> Task:
    return services.decide(task_id=task.pk, actor=task.assignee, decision="approve")


def test_submit_and_every_decision_stay_within_their_query_bounds(
    counted, requester, django_assert_max_num_queries
):
    # SAVEPOINT, insert, manager + absence, update, task insert, 3 events (chain
    # head, one insert), outbox: collapse + insert, RELEASE.
    with django_assert_max_num_queries(13):
        request = services.submit(
            workflow_key="counted", requester=requester, inputs={"amount": "500"}
        )

    # Lock request and task, decision, task update, round's tasks, role + members +
    # cursor + absence, request update, task insert, 4 events (head, insert), outbox x2.
    task = open_task(request, "manager")
    with django_assert_max_num_queries(17):
        decide(task)

    # As above, with three members' tasks and one outbox INSERT for the three.
    task = open_task(request, "finance")
    with django_assert_max_num_queries(18):
        decide(task)
    assert Outbox.objects.filter(kind="task_assigned", task__step_id="board").count() == 3

    # The step closes (two tasks cancelled), the request is approved.
    task = Task.objects.filter(request=request, step_id="board").select_related("assignee")[0]
    with django_assert_max_num_queries(16):
        decide(task)
    request.refresh_from_db()
    assert request.state == "approved"


def test_the_hand_off_after_commit_sends_without_a_statement(
    counted, requester, monkeypatch, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """The rows due now are written ``queued`` in the service's transaction: handing
    them to the broker after commit neither reads nor writes them again."""
    sent: list[int] = []
    monkeypatch.setattr(
        "approvals.tasks.deliver_outbox.apply_async", lambda args, **_: sent.append(args[0])
    )
    monkeypatch.setattr(
        "approvals.tasks.deliver_outbox_many.apply_async", lambda args, **_: sent.extend(args[0])
    )
    request = services.submit(workflow_key="counted", requester=requester, inputs={"amount": "500"})
    decide(open_task(request, "manager"))
    with django_capture_on_commit_callbacks() as callbacks:
        decide(open_task(request, "finance"))
    hand_offs = side_effects(callbacks)  # one hand-off for the whole service call
    assert len(hand_offs) == 1
    board = Outbox.objects.filter(task__step_id="board")
    assert set(board.values_list("state", flat=True)) == {"queued"}  # before the hand-off
    with django_assert_num_queries(0):  # no read back, no UPDATE … SET state = 'queued'
        hand_offs[0]()
    board = list(
        Outbox.objects.filter(task__step_id="board").order_by("pk").values_list("pk", "state")
    )
    assert sent == [pk for pk, _ in board]
    assert {state for _, state in board} == {"queued"}


def test_the_api_adds_a_few_queries_around_the_service(
    counted, requester, django_assert_max_num_queries
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=requester).key}")
    # Token, workflow, the service (18), the answer: the request's tasks and history
    # (the request is the one the service returned; a new one has no comment or file).
    with django_assert_max_num_queries(21):
        response = client.post(
            "/api/v1/requests/", {"workflow": "counted", "inputs": {"amount": "500"}}, format="json"
        )
    assert response.status_code == 201, response.content
    # Built from the objects the service returned: the same as read afresh.
    assert response.data == client.get(f"/api/v1/requests/{response.data['id']}/").data
    task = Task.objects.select_related("assignee").get(request_id=response.data["id"])
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=task.assignee).key}"
    )
    # Token, the assignee's own task (no visibility query), the service (23), the answer.
    with django_assert_max_num_queries(29):
        response = client.post(
            f"/api/v1/tasks/{task.pk}/decision/", {"decision": "approve"}, format="json"
        )
    assert response.status_code == 200, response.content
    assert response.data["task"] == client.get(f"/api/v1/tasks/{task.pk}/").data
    assert response.data["request"] == client.get(f"/api/v1/requests/{task.request_id}/").data
    assert response.data["task"]["state"] == "approved"
    assert [t["step"] for t in response.data["request"]["tasks"]] == ["manager", "finance"]


def test_a_decision_on_someone_elses_visible_task_is_refused_after_the_visibility_rule(
    counted, requester, manager, outsider
):
    request = services.submit(workflow_key="counted", requester=requester, inputs={"amount": "5"})
    task = open_task(request, "manager")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=outsider).key}")
    response = client.post(f"/api/v1/tasks/{task.pk}/decision/", {"decision": "approve"})
    assert response.status_code == 403  # a public workflow: seen, but not theirs to decide
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=requester).key}")
    response = client.post(f"/api/v1/tasks/{task.pk + 1000}/decision/", {"decision": "approve"})
    assert response.status_code == 404


def test_delivery_batching_keeps_the_rows_a_failed_broker_left_pending(
    counted, requester, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(*_, **__):
        raise ConnectionError("broker down")

    monkeypatch.setattr("approvals.tasks.deliver_outbox.apply_async", refuse)
    monkeypatch.setattr("approvals.tasks.deliver_outbox_many.apply_async", refuse)
    monkeypatch.setattr(delivery, "_broker_down_until", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        services.submit(workflow_key="counted", requester=requester, inputs={"amount": "5"})
    [row] = Outbox.objects.all()
    assert row.state == "pending"
    assert "broker unavailable" in row.last_error


def test_rows_due_now_are_handed_over_in_chunks_and_each_is_sent_once(
    counted, requester, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """Up to NOTIFY_HANDOFF_CHUNK ids per message; a chunk run twice (a worker died
    after sending) sends nothing again: each row is claimed on its own."""
    from approvals.tasks import deliver_outbox_many

    settings.NOTIFY_HANDOFF_CHUNK = 2
    messages: list[list[int]] = []
    monkeypatch.setattr(
        "approvals.tasks.deliver_outbox.apply_async", lambda args, **_: messages.append([args[0]])
    )
    monkeypatch.setattr(
        "approvals.tasks.deliver_outbox_many.apply_async",
        lambda args, **_: messages.append(args[0]),
    )
    monkeypatch.setattr(delivery, "_broker_down_until", 0.0)
    rows = [(pk, timezone.now()) for pk in _pending_rows(counted, requester, 5)]
    delivery.enqueue_written(rows)
    assert [len(m) for m in messages] == [2, 2, 1]
    assert sorted(pk for m in messages for pk in m) == sorted(pk for pk, _ in rows)
    states = Outbox.objects.filter(pk__in=[pk for pk, _ in rows]).values_list("state", flat=True)
    assert set(states) == {"queued"}
    first = deliver_outbox_many.run(messages[0])
    again = deliver_outbox_many.run(messages[0])
    assert "skipped" not in first and again == ["skipped", "skipped"]


def _pending_rows(counted, requester, n: int) -> list[int]:
    """n outbox rows not with the broker yet (n requests submitted, hand-off not run)."""
    for i in range(n):
        services.submit(workflow_key="counted", requester=requester, inputs={"amount": str(i + 1)})
    pending = Outbox.objects.filter(state__in=["pending", "queued"]).order_by("pk")
    return list(pending.values_list("pk", flat=True))[:n]


def _states(ids: list[int]) -> list[tuple[str, bool]]:
    """(state, says the broker was unavailable) of each row, in id order."""
    rows = Outbox.objects.filter(pk__in=ids).order_by("pk").values_list("state", "last_error")
    return [(state, "broker unavailable" in error) for state, error in rows]


def test_rows_written_queued_that_the_broker_refuses_wait_pending_for_the_sweep(
    counted, requester, monkeypatch, settings
):
    """The broker takes the first message and refuses the second: the rows it took
    stay queued; the refused ones and those after them are pending again (the
    re-queue sweep hands them over at its next run), the refused ones saying why."""
    settings.NOTIFY_HANDOFF_CHUNK = 2
    taken: list[list[int]] = []

    def first_only(args, **_):
        if taken:
            raise ConnectionError("broker down")
        taken.append(args[0])

    monkeypatch.setattr("approvals.tasks.deliver_outbox_many.apply_async", first_only)
    monkeypatch.setattr(delivery, "_broker_down_until", 0.0)
    ids = _pending_rows(counted, requester, 5)
    assert _states(ids) == [("queued", False)] * 5  # as the services wrote them
    now = timezone.now()
    assert delivery.enqueue_written([(pk, now) for pk in ids], queued=ids) == 2
    assert taken == [ids[:2]]
    assert _states(ids) == [("queued", False)] * 2 + [("pending", True)] * 2 + [("pending", False)]
    assert delivery.requeue().due == 3


def test_rows_written_queued_go_back_to_pending_while_the_broker_is_known_down(
    counted, requester, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[int] = []
    monkeypatch.setattr(
        "approvals.tasks.deliver_outbox.apply_async", lambda args, **_: sent.append(args[0])
    )
    monkeypatch.setattr(delivery, "_broker_down_until", time.monotonic() + 60)
    with django_capture_on_commit_callbacks(execute=True):
        services.submit(workflow_key="counted", requester=requester, inputs={"amount": "5"})
    [row] = Outbox.objects.all()
    assert sent == [] and row.state == "pending"


def test_rows_whose_hand_off_never_ran_are_requeued_once_stale(
    counted, requester, monkeypatch, settings
):
    """The process died between commit and hand-off: its rows were written queued
    and no message carries them. The re-queue sweep takes them as stale queued rows
    (a queued message that was lost), so each is still delivered at least once."""
    sent: list[int] = []
    monkeypatch.setattr(
        "approvals.tasks.deliver_outbox_many.apply_async", lambda args, **_: sent.extend(args[0])
    )
    monkeypatch.setattr(
        "approvals.tasks.deliver_outbox.apply_async", lambda args, **_: sent.append(args[0])
    )
    ids = _pending_rows(counted, requester, 3)  # the hand-offs never run
    assert delivery.requeue().due == 0  # just written: maybe on its way to the broker
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_STALE_SECONDS + 1)
    result = delivery.requeue(now=later)
    assert result.due == result.queued == 3 and sorted(sent) == ids
