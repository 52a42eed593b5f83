"""Engine fixtures: published example recipes and the roles they name."""

from __future__ import annotations

from pathlib import Path

import pytest

from approvals import services
from approvals.models import Task
from tests.factories import PersonFactory, RoleFactory, add_members

DEMO = Path(__file__).resolve().parents[2] / "approvals" / "demo"


def recipe_text(name: str) -> str:
    return (DEMO / f"{name}.yaml").read_text()


def publish(source: str, author=None):
    version, _ = services.publish(source=source, author=author)
    return version


def open_tasks(request) -> list[Task]:
    return list(request.tasks.filter(state="open").select_related("assignee").order_by("pk"))


def approve(task: Task) -> Task:
    return services.decide(task_id=task.pk, actor=task.assignee, decision="approve")


@pytest.fixture
def hr(grandboss):
    hannah = PersonFactory(username="hannah", name="Hannah HR", manager=grandboss)
    return add_members(RoleFactory(name="hr-leave-admin"), hannah)


@pytest.fixture
def leave_request(admins_role, hr):
    return publish(recipe_text("leave_request"))


@pytest.fixture
def purchase_order(admins_role, finance, db):
    RoleFactory(name="procurement-auditors")
    return publish(recipe_text("purchase_order"))
