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


@pytest.fixture(autouse=True)
def _round_tasks_checked(monkeypatch):
    """Every read of a round's tasks in the engine tests is checked against the
    database: the list kept in memory during a service call must be exactly what
    the query returns (services/_round.py)."""
    from approvals.services import _common, _round, flow

    def checked(request):
        kept = real(request)
        fresh = list(
            Task.objects.filter(request_id=request.pk, round=request.round)
            .order_by("pk")
            .values_list("pk", "step_id", "assignee__username", "on_behalf_of__username", "state")
        )
        assert [(t.id, t.step, t.assignee, t.on_behalf_of, t.state) for t in kept] == fresh
        return kept

    real = _round.round_tasks
    monkeypatch.setattr(_common, "round_tasks", checked)
    monkeypatch.setattr(flow, "round_tasks", checked)


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
