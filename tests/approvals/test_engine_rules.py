"""Quorum, send-back and resubmit, delegation, and every refused transition."""

from __future__ import annotations

import pytest

from approvals import services
from approvals.errors import Conflict, InvalidInput, NotAllowed, NotFound
from approvals.models import Decision, Request
from audit.models import AuditEvent
from tests.approvals.conftest import approve, open_tasks, publish
from tests.factories import PersonFactory, RoleFactory, add_members

pytestmark = pytest.mark.django_db


def committee_recipe(quorum: str, members: int = 3) -> str:
    return f"""
workflow: committee
title: Committee vote
inputs:
  topic: {{type: string, required: true}}
steps:
  - id: vote
    type: parallel
    approvers: committee
    quorum: {quorum}
"""


@pytest.fixture
def committee(admins_role, grandboss):
    people = [PersonFactory(username=f"member{i}", manager=grandboss) for i in range(5)]
    add_members(RoleFactory(name="committee"), *people)
    return people


def start_vote(quorum: str, requester) -> Request:
    publish(committee_recipe(quorum))
    return services.submit(workflow_key="committee", requester=requester, inputs={"topic": "x"})


def reject(task, comment="no"):
    return services.decide(task_id=task.pk, actor=task.assignee, decision="reject", comment=comment)


@pytest.mark.parametrize(
    ("quorum", "approvals_needed"),
    [("any", 1), ("majority", 3), ("2", 2), ("all", 5)],
)
def test_quorum_approves_as_soon_as_q_tasks_approve(committee, requester, quorum,
                                                    approvals_needed):
    request = start_vote(quorum, requester)
    tasks = open_tasks(request)
    assert len(tasks) == 5
    for i, task in enumerate(tasks[:approvals_needed]):
        request.refresh_from_db()
        assert request.state == "pending", f"closed after only {i} approvals"
        approve(task)
    request.refresh_from_db()
    assert request.state == "approved"
    assert request.tasks.filter(state="cancelled").count() == 5 - approvals_needed


@pytest.mark.parametrize(
    ("quorum", "rejections_to_fail"),
    [("any", 5), ("majority", 3), ("2", 4), ("all", 1)],
)
def test_quorum_rejects_as_soon_as_it_can_no_longer_be_reached(committee, requester, quorum,
                                                               rejections_to_fail):
    request = start_vote(quorum, requester)
    tasks = open_tasks(request)
    for task in tasks[:rejections_to_fail]:
        request.refresh_from_db()
        assert request.state == "pending"
        reject(task)
    request.refresh_from_db()
    assert request.state == "rejected"
    step_closed = AuditEvent.objects.get(request_id=request.pk, event_type="step_closed")
    assert step_closed.payload["outcome"] == "rejected"


def test_request_changes_sends_back_and_resubmit_runs_again_from_the_first_step(
    purchase_order, requester, manager, finance
):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "6000", "vendor": "A"})
    approve(open_tasks(request)[0])
    frank_task = next(t for t in open_tasks(request) if t.assignee.username == "frank")
    services.decide(task_id=frank_task.pk, actor=frank_task.assignee,
                    decision="request_changes", comment="Need a second quote")
    request.refresh_from_db()
    assert request.state == "changes_requested"
    assert open_tasks(request) == [], "the other finance task was cancelled"

    services.resubmit(request_id=request.pk, actor=requester,
                      inputs={"amount": "4000", "vendor": "B"})
    request.refresh_from_db()
    assert request.state == "pending"
    assert request.round == 1
    assert request.inputs["amount"] == "4000.00"
    [task] = open_tasks(request)
    assert task.step_id == "manager" and task.round == 1, "earlier decisions do not count"
    approve(task)
    request.refresh_from_db()
    assert request.state == "approved", "4000 no longer needs finance"


def test_a_decided_task_cannot_be_decided_again(purchase_order, requester, manager):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    task = open_tasks(request)[0]
    approve(task)
    with pytest.raises(Conflict):
        services.decide(task_id=task.pk, actor=manager, decision="reject", comment="x")
    assert Decision.objects.filter(task=task).count() == 1


def test_only_the_assignee_decides(purchase_order, requester, manager, outsider):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    task = open_tasks(request)[0]
    with pytest.raises(NotAllowed):
        services.decide(task_id=task.pk, actor=outsider, decision="approve")
    with pytest.raises(NotAllowed):
        services.decide(task_id=task.pk, actor=requester, decision="approve")
    assert not Decision.objects.exists()


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_reject_and_request_changes_need_a_comment(purchase_order, requester, manager, decision):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    task = open_tasks(request)[0]
    with pytest.raises(InvalidInput):
        services.decide(task_id=task.pk, actor=manager, decision=decision, comment="   ")
    task.refresh_from_db()
    assert task.state == "open"


@pytest.mark.parametrize("decision", ["yes", "", "APPROVE", None])
def test_unknown_decisions_are_refused(purchase_order, requester, manager, decision):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    with pytest.raises(InvalidInput):
        services.decide(task_id=open_tasks(request)[0].pk, actor=manager, decision=decision)


def test_unknown_task_is_not_found(manager, db):
    with pytest.raises(NotFound):
        services.decide(task_id=999_999, actor=manager, decision="approve")


def test_only_the_requester_cancels_and_only_while_open(purchase_order, requester, manager):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    with pytest.raises(NotAllowed):
        services.cancel(request_id=request.pk, actor=manager)
    services.cancel(request_id=request.pk, actor=requester, comment="bought it myself")
    request.refresh_from_db()
    assert request.state == "cancelled"
    assert request.tasks.get().state == "cancelled"
    with pytest.raises(Conflict):
        services.cancel(request_id=request.pk, actor=requester)


def test_a_pending_request_cannot_be_resubmitted(purchase_order, requester, manager):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    with pytest.raises(Conflict):
        services.resubmit(request_id=request.pk, actor=requester,
                          inputs={"amount": "1", "vendor": "A"})
    request.refresh_from_db()
    assert request.round == 0 and request.inputs["amount"] == "100.00"


def test_bad_inputs_are_refused_with_the_field_and_nothing_is_written(purchase_order, requester):
    with pytest.raises(InvalidInput) as err:
        services.submit(workflow_key="purchase_order", requester=requester,
                        inputs={"amount": "-5", "colour": "red"})
    paths = {f.path for f in err.value.faults}
    assert {"inputs.amount", "inputs.vendor", "inputs.colour"} <= paths
    assert not Request.objects.exists()
    assert not AuditEvent.objects.filter(request_id__isnull=False).exists()


def test_unknown_workflow_is_refused(requester):
    with pytest.raises(InvalidInput) as err:
        services.submit(workflow_key="nope", requester=requester, inputs={})
    assert err.value.faults[0].path == "workflow"


def test_delegation_hands_the_task_over_and_records_the_chain(
    purchase_order, requester, manager, delegate
):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    task = open_tasks(request)[0]
    new = services.delegate(task_id=task.pk, actor=manager, to=delegate, comment="on leave")
    task.refresh_from_db()
    assert task.state == "delegated"
    assert new.assignee == delegate
    assert new.on_behalf_of == manager
    assert new.delegation_chain == ["manager", "delegate"]
    with pytest.raises(NotAllowed):
        services.decide(task_id=new.pk, actor=manager, decision="approve")
    approve(new)
    request.refresh_from_db()
    assert request.state == "approved"
    decision = Decision.objects.get()
    assert decision.decided_by == delegate and decision.on_behalf_of == manager


def test_delegation_to_the_requester_or_by_someone_else_is_refused(
    purchase_order, requester, manager, outsider
):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    task = open_tasks(request)[0]
    with pytest.raises(InvalidInput):
        services.delegate(task_id=task.pk, actor=manager, to=requester)
    with pytest.raises(NotAllowed):
        services.delegate(task_id=task.pk, actor=outsider, to=outsider)
    task.refresh_from_db()
    assert task.state == "open"


def test_nobody_to_resolve_routes_to_the_fallback_role_and_records_why(
    purchase_order, grandboss, admins_role
):
    orphan = PersonFactory(username="orphan", manager=None)
    request = services.submit(workflow_key="purchase_order", requester=orphan,
                              inputs={"amount": "100", "vendor": "A"})
    [task] = open_tasks(request)
    assert task.assignee == grandboss
    assert task.resolution["fallback"]["role"] == "approval-admins"
    assert AuditEvent.objects.filter(request_id=request.pk, event_type="routing_fallback").exists()


def test_publishing_identical_content_makes_no_new_version(admins_role, finance, db):
    RoleFactory(name="procurement-auditors")
    from tests.approvals.conftest import recipe_text

    source = recipe_text("purchase_order")
    first, created = services.publish(source=source)
    again, created_again = services.publish(source=source + "\n# a comment\n")
    assert created and not created_again and again == first
    assert first.restricted and first.viewers == ["procurement-auditors"]


def test_a_bad_recipe_is_refused_with_located_faults_and_publishes_nothing(db):
    with pytest.raises(InvalidInput) as err:
        services.publish(source="workflow: x\ntitle: X\nsteps:\n  - id: a\n    quorum: 2\n")
    assert err.value.faults and all(f.path for f in err.value.faults)
    from approvals.models import Workflow

    assert not Workflow.objects.exists()
