"""Reads: who may see what, and the lists people look at. (Signatures fixed; bodies
being implemented.) No view builds a permission filter inline: they call these."""

from __future__ import annotations

from django.db.models import QuerySet

from approvals.models import Request, Task, Workflow
from orgchart.models import Person


def is_auditor(person: Person) -> bool:
    """Members of the ``auditors`` role, holders of ``audit.view_auditevent``, superusers."""
    raise NotImplementedError


def is_author(person: Person) -> bool:
    """Holders of ``approvals.add_workflowversion`` (publish, simulate)."""
    raise NotImplementedError


def requests_visible_to(person: Person) -> QuerySet[Request]:
    """Public workflows' requests for every employee; restricted ones for their
    participants (requester, assignees, on-behalf-of, deciders), the workflow's
    viewer roles and auditors."""
    raise NotImplementedError


def request_for(person: Person, request_id: int) -> Request:
    """One request the person may see, or approvals.errors.NotFound."""
    raise NotImplementedError


def inbox_for(person: Person) -> QuerySet[Task]:
    """The person's open tasks, oldest due first, with request, workflow, requester
    and on-behalf-of joined: one indexed query whatever the count."""
    raise NotImplementedError


def tasks_visible_to(person: Person) -> QuerySet[Task]:
    """Tasks of requests the person may see."""
    raise NotImplementedError


def workflows_available_to(person: Person) -> QuerySet[Workflow]:
    """Active, published workflows the person may submit."""
    raise NotImplementedError


def pending_reason(request: Request) -> str:
    """Why a request waits: "waiting for Dave, for Bob, since …, due in 3 h"."""
    raise NotImplementedError
