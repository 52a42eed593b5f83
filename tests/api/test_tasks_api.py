"""Tasks through the API: the inbox, decisions, delegation, bulk decisions, and the
inbox's query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import services
from approvals.api.serializers import TaskSerializer
from approvals.models import Decision, Task
from tests.api.conftest import client_for
from tests.factories import PersonFactory


def test_inbox_defaults_to_my_open_tasks(scene):
    body = scene.client("assignee").get("/api/v1/tasks/").json()
    assert [t["id"] for t in body["results"]] == [scene.manager_task.pk]
    task = body["results"][0]
    assert task["assignee"] == "manager" and task["state"] == "open"
    assert task["request"] == scene.request.pk and task["step"] == "approval"


def test_the_inbox_without_filters_is_the_inbox_with_the_defaults_spelled_out(
    scene, expense_workflow, requester
):
    """With no filter given the view skips the filterset (inbox_for is already the
    answer): the same tasks, counts and pages as with state=open&assignee=me."""
    for amount in range(3):
        services.submit(workflow_key="expense", requester=requester, inputs={"amount": amount})
    for name in ("assignee", "delegate", "requester", "outsider", "admin"):
        client = scene.client(name)
        for paging in ("", "page_size=1&page=2", "page_size=200"):
            bare = client.get(f"/api/v1/tasks/?{paging}")
            spelled = client.get(f"/api/v1/tasks/?state=open&assignee=me&{paging}")
            assert bare.status_code == spelled.status_code, (name, paging)
            if bare.status_code == 200:  # the links differ by the parameters given
                for key in ("count", "results"):
                    assert bare.json()[key] == spelled.json()[key], (name, paging)
            else:  # a page past the end
                assert bare.json() == spelled.json(), (name, paging)
    assert client.get("/api/v1/tasks/?state=nonsense").status_code == 400


def test_the_inbox_rows_read_no_more_than_the_slice_asks(scene, expense_workflow, requester):
    from approvals.api.views.tasks import _InboxRows

    for amount in range(3):
        services.submit(workflow_key="expense", requester=requester, inputs={"amount": amount})
    rows = _InboxRows(scene.people["assignee"], page_size=50)
    assert rows.count() == 4
    assert len(rows[0:2]) == 2 and rows[1:4] == rows[0:4][1:] and rows[3:3] == []
    assert _InboxRows(scene.people["outsider"], page_size=50).count() == 0


def test_the_delegated_task_shows_who_it_was_meant_for(scene):
    [task] = scene.client("delegate").get("/api/v1/tasks/").json()["results"]
    assert task["on_behalf_of"] == "frank"
    assert task["delegation_chain"] == ["frank", "delegate"]


def test_wider_task_lists_stay_within_what_the_caller_may_see(scene):
    everything = scene.client("requester").get("/api/v1/tasks/?assignee=all&state=all").json()
    assert {t["assignee"] for t in everything["results"]} == {"manager", "frank", "delegate"}
    franks = scene.client("viewer").get("/api/v1/tasks/?assignee=frank&state=delegated").json()
    assert [t["assignee"] for t in franks["results"]] == ["frank"]
    assert scene.client("outsider").get("/api/v1/tasks/?assignee=manager").json()["count"] == 0


def test_decision_returns_the_task_and_its_request(scene):
    response = scene.client("assignee").post(
        f"/api/v1/tasks/{scene.manager_task.pk}/decision/",
        {"decision": "approve", "comment": "ok"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["task"]["state"] == "approved"
    assert body["request"]["id"] == scene.request.pk
    assert body["request"]["state"] == "pending"  # quorum all: the delegate still decides
    last = scene.client("delegate").post(
        f"/api/v1/tasks/{scene.delegate_task.pk}/decision/", {"decision": "approve"},
        format="json",
    )
    assert last.json()["request"]["state"] == "approved"
    assert last.json()["request"]["current_step"] is None


def test_deciding_twice_is_409_and_records_one_decision(scene):
    client = scene.client("assignee")
    path = f"/api/v1/tasks/{scene.manager_task.pk}/decision/"
    assert client.post(path, {"decision": "approve"}, format="json").status_code == 200
    again = client.post(path, {"decision": "approve"}, format="json")
    assert again.status_code == 409
    assert Decision.objects.filter(task=scene.manager_task).count() == 1


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_reject_and_request_changes_need_a_comment(scene, decision):
    response = scene.client("assignee").post(
        f"/api/v1/tasks/{scene.manager_task.pk}/decision/", {"decision": decision},
        format="json",
    )
    assert response.status_code == 400
    assert "comment" in response.json()
    assert not Decision.objects.exists()


def test_an_unknown_decision_is_400(scene):
    response = scene.client("assignee").post(
        f"/api/v1/tasks/{scene.manager_task.pk}/decision/", {"decision": "maybe"},
        format="json",
    )
    assert response.status_code == 400 and "decision" in response.json()


def test_delegate_returns_the_new_task(scene):
    response = scene.client("assignee").post(
        f"/api/v1/tasks/{scene.manager_task.pk}/delegate/", {"to": "fiona"}, format="json"
    )
    assert response.status_code == 200, response.content
    new = response.json()
    assert new["assignee"] == "fiona" and new["on_behalf_of"] == "manager"
    assert new["id"] != scene.manager_task.pk


@pytest.mark.parametrize(
    ("to", "status"), [("ghost", 400), ("requester", 400), ("manager", 400)]
)
def test_delegating_to_nobody_the_requester_or_oneself_is_400(scene, to, status):
    response = scene.client("assignee").post(
        f"/api/v1/tasks/{scene.manager_task.pk}/delegate/", {"to": to}, format="json"
    )
    assert response.status_code == status and "to" in response.json()


def test_bulk_decision_one_failing_never_fails_the_others(scene, expense_workflow, requester):
    other = services.submit(workflow_key="expense", requester=requester, inputs={"amount": 5})
    other_task = other.tasks.get(state="open")
    scene.client("assignee").post(  # decided already: this one will conflict
        f"/api/v1/tasks/{other_task.pk}/decision/", {"decision": "approve"}, format="json"
    )
    response = scene.client("assignee").post(
        "/api/v1/tasks/bulk-decision/",
        {"tasks": [other_task.pk, scene.manager_task.pk, scene.delegate_task.pk, 999999],
         "decision": "approve"},
        format="json",
    )
    assert response.status_code == 200
    results = {r["task"]: r for r in response.json()["results"]}
    assert results[other_task.pk]["status"] == 409 and not results[other_task.pk]["ok"]
    assert results[scene.manager_task.pk]["ok"] and results[scene.manager_task.pk]["status"] == 200
    assert results[scene.delegate_task.pk]["status"] == 403
    assert results[999999]["status"] == 404
    assert all({"task", "ok", "status", "detail"} <= set(r) for r in results.values())
    assert Decision.objects.filter(task=scene.manager_task).exists()


def test_bulk_reject_without_comment_fails_each_task_alone(scene):
    response = scene.client("assignee").post(
        "/api/v1/tasks/bulk-decision/",
        {"tasks": [scene.manager_task.pk], "decision": "reject"}, format="json",
    )
    [result] = response.json()["results"]
    assert result["status"] == 400 and not result["ok"]


@pytest.mark.parametrize(
    "body",
    [{"tasks": [], "decision": "approve"}, {"tasks": ["x"], "decision": "approve"},
     {"tasks": [1], "decision": "nope"}, {"tasks": 5, "decision": "approve"},
     {"tasks": [10**30], "decision": "approve"}, {"tasks": list(range(1, 500)),
                                                  "decision": "approve"}],
)
def test_bulk_decision_bad_bodies_are_400(scene, body):
    response = scene.client("assignee").post("/api/v1/tasks/bulk-decision/", body,
                                             format="json")
    assert response.status_code == 400


def _inbox_queries(person, path: str = "/api/v1/tasks/") -> tuple[int, int]:
    client = client_for(person)
    client.get(path)  # warm up: token lookup caches, content types
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()["count"]


def test_inbox_query_count_is_the_same_for_10_and_120_tasks(expense_workflow, grandboss):
    boss = PersonFactory(username="boss", manager=grandboss)
    staff = [PersonFactory(username=f"staff{i}", manager=boss) for i in range(12)]

    def submit(n: int) -> None:
        for i in range(n):
            services.submit(workflow_key="expense", requester=staff[i % 12], inputs={"amount": i})

    submit(10)
    ten = {path: _inbox_queries(boss, path) for path in PATHS}
    submit(110)
    for path in PATHS:
        queries, count = _inbox_queries(boss, path)
        assert (ten[path][1], count) == (10, 120)
        assert queries == ten[path][0] <= 4  # token+user, count, page: none per task


PATHS = ("/api/v1/tasks/", "/api/v1/tasks/?page_size=200", "/api/v1/tasks/?page=2&page_size=5")


def _prepared_sql() -> list[str]:
    from approvals.api.views.tasks import _INBOX_COUNT

    return [compiled.sql for compiled in _INBOX_COUNT._compiled.values()]


def test_the_inbox_is_counted_on_the_task_table_alone(expense_workflow, grandboss):
    """The page is read as values() rows; the COUNT must not join their tables too."""
    boss = PersonFactory(username="boss", manager=grandboss)
    services.submit(workflow_key="expense", requester=PersonFactory(manager=boss),
                    inputs={"amount": 1})
    client = client_for(boss)
    client.get("/api/v1/tasks/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/tasks/").json()["count"] == 1
    # The count's SQL: as sent, or (PostgreSQL) as its prepared statement holds it.
    sent = [q["sql"] for q in ctx.captured_queries]
    counts = [sql for sql in [*sent, *_prepared_sql()] if "COUNT(" in sql]
    assert counts and not any("JOIN" in sql for sql in counts)


def test_the_task_list_says_what_the_task_serializer_says(scene, expense_workflow, requester):
    """The list is written from values() rows by TaskListSerializer; each row must be
    exactly TaskSerializer's (API.md), whatever the task: delegated, decided, on behalf
    of someone, with or without a due date and a role."""
    expense = services.submit(workflow_key="expense", requester=requester, inputs={"amount": 5})
    Task.objects.filter(request=expense).update(due_at=timezone.now() + timedelta(hours=5))
    client = scene.client("assignee")
    client.post(f"/api/v1/tasks/{scene.manager_task.pk}/decision/", {"decision": "approve"},
                format="json")
    Task.objects.filter(pk=scene.delegate_task.pk).update(due_at=None, role="po-team")
    body = client_for(scene.people["admin"]).get(
        "/api/v1/tasks/?state=all&assignee=all&page_size=200"
    ).json()
    tasks = Task.objects.select_related(
        "request__workflow", "request__requester", "assignee", "on_behalf_of"
    ).order_by(F("due_at").asc(nulls_last=True), "created_at", "pk")
    assert body["results"] == TaskSerializer(tasks, many=True).data
    assert len(body["results"]) == 4
    assert {t["state"] for t in body["results"]} >= {"approved", "open", "delegated"}
    assert {t["due_at"] is None for t in body["results"]} == {True, False}


def test_request_list_query_count_does_not_grow(expense_workflow, grandboss):
    boss = PersonFactory(username="boss", manager=grandboss)
    staff = [PersonFactory(username=f"staff{i}", manager=boss) for i in range(10)]
    services.submit(workflow_key="expense", requester=staff[0], inputs={"amount": 1})
    client = client_for(boss)
    client.get("/api/v1/requests/")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/api/v1/requests/")
    one = len(ctx.captured_queries)
    for person in staff[1:]:
        services.submit(workflow_key="expense", requester=person, inputs={"amount": 1})
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/requests/").json()["count"] == 10
    assert len(ctx.captured_queries) == one
