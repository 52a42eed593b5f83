"""The seed scenarios end to end through the services."""

from __future__ import annotations

from itertools import pairwise

import pytest

from approvals import services
from approvals.models import Request
from audit.models import AuditEvent
from tests.approvals.conftest import approve, open_tasks

pytestmark = pytest.mark.django_db


def events(request: Request) -> list[str]:
    return list(
        AuditEvent.objects.filter(request_id=request.pk).order_by("seq").values_list(
            "event_type", flat=True
        )
    )


def test_short_leave_is_approved_by_the_rule_without_anyone(leave_request, requester):
    request = services.submit(
        workflow_key="leave_request", requester=requester,
        inputs={"start_date": "2026-12-01", "days": 2},
    )
    request.refresh_from_db()
    assert request.state == "approved"
    assert request.tasks.count() == 0
    approved = AuditEvent.objects.get(request_id=request.pk, event_type="request_approved")
    assert approved.payload["step"] == "auto_approve_short"
    assert approved.actor["user"] == "system"


def test_leave_of_five_days_needs_the_manager(leave_request, requester, manager):
    request = services.submit(
        workflow_key="leave_request", requester=requester,
        inputs={"start_date": "2026-12-01", "days": 5},
    )
    request.refresh_from_db()
    assert request.state == "pending"
    assert request.current_step == "manager_approval"
    [task] = open_tasks(request)
    assert task.assignee == manager
    assert task.due_at is not None  # timeout: 48h

    approve(task)
    request.refresh_from_db()
    assert request.state == "approved"
    skipped = AuditEvent.objects.filter(request_id=request.pk, event_type="step_skipped")
    assert [e.payload["step"] for e in skipped] == ["auto_approve_short", "hr_and_grandboss"]
    assert skipped[0].payload["seen"] == {"days": 5}


def test_long_leave_adds_grandboss_and_hr_in_parallel_quorum_all(
    leave_request, requester, manager, grandboss, hr
):
    request = services.submit(
        workflow_key="leave_request", requester=requester,
        inputs={"start_date": "2026-12-01", "days": 20, "reason": "sabbatical"},
    )
    approve(open_tasks(request)[0])
    request.refresh_from_db()
    assert request.current_step == "hr_and_grandboss"
    tasks = open_tasks(request)
    assert {t.assignee.username for t in tasks} == {"grandboss", "hannah"}

    approve(tasks[0])
    request.refresh_from_db()
    assert request.state == "pending", "quorum all: one approval is not enough"
    approve(tasks[1])
    request.refresh_from_db()
    assert request.state == "approved"
    assert events(request)[-2:] == ["step_closed", "request_approved"]


def test_small_purchase_order_needs_only_the_manager(purchase_order, requester, manager):
    request = services.submit(
        workflow_key="purchase_order", requester=requester,
        inputs={"amount": 1200, "vendor": "Laptops Inc"},
    )
    assert request.inputs["amount"] == "1200.00"
    approve(open_tasks(request)[0])
    request.refresh_from_db()
    assert request.state == "approved"


def test_purchase_over_5000_adds_finance_where_any_member_closes_the_step(
    purchase_order, requester, manager, finance
):
    request = services.submit(
        workflow_key="purchase_order", requester=requester,
        inputs={"amount": "6000", "vendor": "Servers Ltd"},
    )
    approve(open_tasks(request)[0])
    request.refresh_from_db()
    assert request.current_step == "finance"
    tasks = open_tasks(request)
    assert {t.assignee.username for t in tasks} == {"frank", "fiona"}

    approve(tasks[1])
    request.refresh_from_db()
    assert request.state == "approved"
    tasks[0].refresh_from_db()
    assert tasks[0].state == "cancelled", "closing the step cancels its other open tasks"


def test_a_rejection_finishes_the_request(purchase_order, requester, manager):
    request = services.submit(
        workflow_key="purchase_order", requester=requester,
        inputs={"amount": "6000", "vendor": "Servers Ltd"},
    )
    task = open_tasks(request)[0]
    services.decide(task_id=task.pk, actor=manager, decision="reject", comment="Not this year")
    request.refresh_from_db()
    assert request.state == "rejected"
    assert request.decided_at is not None
    assert request.tasks.count() == 1, "the finance step was never planned"


def test_request_is_pinned_to_its_version(purchase_order, requester, manager):
    request = services.submit(
        workflow_key="purchase_order", requester=requester,
        inputs={"amount": "6000", "vendor": "Servers Ltd"},
    )
    newer = purchase_order.source.replace("amount > 5000", "amount > 10")
    version, created = services.publish(source=newer)
    assert created and version.number == 2
    approve(open_tasks(request)[0])
    request.refresh_from_db()
    assert request.workflow_version == purchase_order
    assert request.current_step == "finance"


def test_every_event_of_a_request_is_chained(purchase_order, requester, manager, finance):
    request = services.submit(
        workflow_key="purchase_order", requester=requester,
        inputs={"amount": "6000", "vendor": "Servers Ltd"},
    )
    approve(open_tasks(request)[0])
    chain = list(AuditEvent.objects.filter(request_id=request.pk).order_by("seq"))
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    for earlier, later in pairwise(chain):
        assert later.prev_hash == earlier.hash
    assert events(request)[:3] == ["request_submitted", "step_started", "task_assigned"]
