"""Fixtures for the authoring tests: an author, workflows and rows made directly."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from approvals.models import Request, Task, Workflow, WorkflowVersion
from orgchart.models import Person
from tests.factories import PersonFactory


@pytest.fixture
def author(grandboss) -> Person:
    """A workflow author: may publish and simulate, and open the admin."""
    person = PersonFactory(username="author", name="Ada Author", manager=grandboss, is_staff=True)
    perms = Permission.objects.filter(
        content_type__app_label="approvals",
        codename__in=[
            "add_workflowversion",
            "view_workflowversion",
            "add_workflow",
            "view_workflow",
            "change_workflow",
            "view_request",
            "view_task",
            "view_decision",
            "view_comment",
            "view_attachment",
        ],
    )
    person.user_permissions.add(*perms)
    return person


@pytest.fixture
def now() -> datetime:
    return timezone.now()


def make_workflow(key: str = "purchase_order", title: str = "Purchase order") -> Workflow:
    workflow = Workflow.objects.create(key=key, title=title)
    version = WorkflowVersion.objects.create(
        workflow=workflow, number=1, source=f"workflow: {key}\n", content_hash=key * 2
    )
    Workflow.objects.filter(pk=workflow.pk).update(latest_version=version)
    workflow.refresh_from_db()
    return workflow


def make_request(
    workflow: Workflow,
    requester: Person,
    *,
    created: datetime,
    state: str = "pending",
    decided: datetime | None = None,
) -> Request:
    """A request row as the engine would leave it. Test setup only: states are
    protected, so they are set with a queryset update, never through the model."""
    request = Request.objects.create(
        workflow=workflow, workflow_version=workflow.latest_version, requester=requester
    )
    Request.objects.filter(pk=request.pk).update(
        state=state, created_at=created, decided_at=decided
    )
    request.refresh_from_db()
    return request


def make_task(
    request: Request,
    step_id: str,
    assignee: Person,
    *,
    created: datetime,
    state: str = "open",
    decided: datetime | None = None,
    due: datetime | None = None,
) -> Task:
    task = Task.objects.create(request=request, step_id=step_id, assignee=assignee)
    Task.objects.filter(pk=task.pk).update(
        state=state, created_at=created, decided_at=decided, due_at=due
    )
    task.refresh_from_db()
    return task


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
