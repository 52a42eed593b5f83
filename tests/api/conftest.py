"""API fixtures: the personas of the permission matrix, a restricted purchase-order
workflow and one pending request on which every persona has a part.

    request  (by requester, restricted "po" workflow, one parallel step, quorum all)
      ├── task for manager                      -> the "assignee" persona
      └── task for frank, delegated to delegate -> the "delegate" persona
    vera: member of the viewer role; arthur: a workflow author; root: a superuser
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from approvals import services
from approvals.models import Request, Task
from orgchart.models import Person
from tests.factories import PersonFactory, RoleFactory, add_members

PO_RECIPE = """\
workflow: po
title: Purchase order
inputs:
  amount: {type: money, required: true, min: 0}
  vendor: {type: string, required: true, max_length: 200}
visibility: restricted
viewers: [procurement-auditors]
triggers: [po.requested]
steps:
  - id: approval
    type: parallel
    branches:
      - approver: "{{ requester.manager }}"
      - approver: "user:frank"
    quorum: all
"""

PUBLIC_RECIPE = """\
workflow: expense
title: Expense
inputs:
  amount: {type: money, required: true, min: 0}
  note: {type: text}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
"""


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def client_for(person: Person | None) -> APIClient:
    """A client that authenticates with the person's DRF token (or none at all)."""
    client = APIClient()
    if person is not None:
        token, _ = Token.objects.get_or_create(user=person)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@contextmanager
def undone() -> Iterator[None]:
    """Run a block and roll back everything it wrote (a savepoint), so several calls
    can each start from the same scene."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def grant(person: Person, *codenames: str) -> Person:
    for full in codenames:
        app_label, codename = full.split(".")
        person.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return Person.objects.get(pk=person.pk)  # drop the permission cache


@pytest.fixture
def viewer(grandboss) -> Person:
    vera = PersonFactory(username="vera", name="Vera Viewer", manager=grandboss)
    add_members(RoleFactory(name="procurement-auditors"), vera)
    return vera


@pytest.fixture
def author(grandboss) -> Person:
    return grant(
        PersonFactory(username="arthur", name="Arthur Author", manager=grandboss),
        "approvals.add_workflowversion",
    )


@pytest.fixture
def admin(grandboss) -> Person:
    return PersonFactory(
        username="root", name="Root Admin", manager=grandboss, is_superuser=True, is_staff=True
    )


@pytest.fixture
def service_account(db) -> Person:
    return PersonFactory(username="erp-bot", name="ERP", is_service_account=True)


@pytest.fixture
def po_workflow(admins_role, finance, viewer, author):
    version, _ = services.publish(source=PO_RECIPE, author=author)
    return version


@pytest.fixture
def expense_workflow(admins_role, author):
    version, _ = services.publish(source=PUBLIC_RECIPE, author=author)
    return version


@dataclass
class Scene:
    request: Request
    manager_task: Task
    delegate_task: Task
    people: dict[str, Person | None]

    def client(self, persona: str) -> APIClient:
        return client_for(self.people[persona])


@pytest.fixture
def scene(
    po_workflow, requester, manager, delegate, outsider, viewer, author, admin, finance
) -> Scene:
    request = services.submit(
        workflow_key="po", requester=requester, inputs={"amount": 1200, "vendor": "Acme"},
        title="Laptop for Alice",
    )
    manager_task = request.tasks.get(assignee=manager, state="open")
    frank_task = request.tasks.get(assignee__username="frank", state="open")
    delegate_task = services.delegate(
        task_id=frank_task.pk, actor=frank_task.assignee, to=delegate
    )
    people: dict[str, Any] = {
        "anonymous": None,
        "requester": requester,
        "assignee": manager,
        "delegate": delegate,
        "outsider": outsider,
        "viewer": viewer,
        "author": author,
        "admin": admin,
    }
    return Scene(request, manager_task, delegate_task, people)
