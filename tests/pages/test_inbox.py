"""The inbox page: my open tasks, decided inline or in bulk, in one query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import Task
from tests.factories import PersonFactory
from tests.pages.conftest import open_task


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_inbox_lists_my_open_tasks_with_a_summary_of_the_inputs(make_po, as_user, manager):
    req = make_po(amount="1200.00", vendor="Acme")
    page = as_user(manager).get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"#{req.pk} Acme order" in html
    assert "Amount 1,200.00 · Vendor Acme" in html
    assert "Alice Requester" in html


def test_inbox_of_someone_else_does_not_show_my_tasks(make_po, as_user, outsider):
    req = make_po()
    html = as_user(outsider).get("/").content.decode()
    assert f"#{req.pk} " not in html
    assert "all caught up" in html


def test_overdue_tasks_come_first_and_are_highlighted(make_po, as_user, manager):
    make_po(vendor="Later")
    overdue = make_po(vendor="Overdue")
    Task.objects.filter(request=overdue).update(due_at=timezone.now() - timedelta(hours=2))
    html = as_user(manager).get("/").content.decode()
    assert html.index("Overdue order") < html.index("Later order")
    task = open_task(overdue)
    assert f'class="task task--overdue" id="task-{task.pk}"' in html
    assert "1 overdue" in html


def test_filters_by_workflow_and_overdue(make_po, as_user, manager):
    make_po(vendor="Fresh")
    late = make_po(vendor="Stale")
    Task.objects.filter(request=late).update(due_at=timezone.now() - timedelta(hours=1))
    client = as_user(manager)
    html = client.get("/?due=overdue").content.decode()
    assert "Stale order" in html and "Fresh order" not in html
    html = client.get("/?workflow=nope").content.decode()  # not a choice: ignored, all shown
    assert "Stale order" in html and "Fresh order" in html
    html = client.get("/?workflow=purchase_order&due=soon").content.decode()
    assert "Stale order" in html


def test_on_behalf_of_and_the_chain_are_shown(make_po, as_user, manager, delegate, grandboss):
    req = make_po()
    # The engine records a delegation like this when the manager is away.
    helper = PersonFactory(username="helper", name="Hank Helper", manager=grandboss)
    Task.objects.filter(request=req).update(
        assignee=helper, on_behalf_of=manager, delegation_chain=["manager", "delegate", "helper"]
    )
    html = as_user(helper).get("/").content.decode()
    assert "On behalf of Bob Manager, via Carol Delegate" in html


def _count_inbox_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_inbox_costs_the_same_queries_for_1_and_30_tasks(make_po, as_user, manager):
    make_po()
    client = as_user(manager)
    one = _count_inbox_queries(client)
    for i in range(29):
        make_po(vendor=f"Vendor{i}")
    thirty = _count_inbox_queries(client)
    assert thirty == one
    assert len(client.get("/").context["items"]) == 30


def test_approve_inline_moves_the_request_on(make_po, as_user, manager):
    req = make_po(amount="100.00")
    task = open_task(req)
    response = as_user(manager).post(
        f"/tasks/{task.pk}/decide/", {"decision": "approve", "comment": ""}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    req.refresh_from_db()
    assert req.state == "approved"
    assert any("approved" in m for m in messages_of(response))


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_reject_and_request_changes_need_a_comment(make_po, as_user, manager, decision):
    req = make_po()
    task = open_task(req)
    response = as_user(manager).post(
        f"/tasks/{task.pk}/decide/", {"decision": decision, "comment": "  "}, follow=True
    )
    assert any("comment" in m for m in messages_of(response))
    task.refresh_from_db()
    req.refresh_from_db()
    assert task.state == "open" and req.state == "pending"


def test_request_changes_with_a_comment_sends_it_back(make_po, as_user, manager):
    req = make_po()
    as_user(manager).post(
        f"/tasks/{open_task(req).pk}/decide/",
        {"decision": "request_changes", "comment": "Which laptop model?"},
    )
    req.refresh_from_db()
    assert req.state == "changes_requested"


def test_deciding_a_task_that_is_not_mine_changes_nothing(make_po, as_user, outsider):
    req = make_po()
    task = open_task(req)
    response = as_user(outsider).post(
        f"/tasks/{task.pk}/decide/", {"decision": "approve"}, follow=True
    )
    assert response.status_code == 200
    assert messages_of(response)  # the engine's refusal, shown on the page
    task.refresh_from_db()
    assert task.state == "open"
    assert not task.decisions.exists()


def test_deciding_a_closed_task_says_so(make_po, as_user, manager):
    req = make_po(amount="100.00")
    task = open_task(req)
    client = as_user(manager)
    client.post(f"/tasks/{task.pk}/decide/", {"decision": "approve"})
    response = client.post(
        f"/tasks/{task.pk}/decide/", {"decision": "reject", "comment": "changed my mind"},
        follow=True,
    )
    assert messages_of(response)
    req.refresh_from_db()
    assert req.state == "approved"
    assert task.decisions.count() == 1


def test_a_made_up_decision_or_task_is_refused(make_po, as_user, manager):
    req = make_po()
    client = as_user(manager)
    response = client.post(f"/tasks/{open_task(req).pk}/decide/", {"decision": "yolo"},
                           follow=True)
    assert messages_of(response)
    response = client.post("/tasks/999999/decide/", {"decision": "approve"}, follow=True)
    assert response.status_code == 200 and messages_of(response)
    assert open_task(req).state == "open"


def test_decide_only_redirects_back_into_the_site(make_po, as_user, manager):
    req = make_po()
    response = as_user(manager).post(
        f"/tasks/{open_task(req).pk}/decide/",
        {"decision": "approve", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_bulk_approve_gives_a_result_per_task(make_po, as_user, manager, outsider):
    mine = [make_po(amount="100.00", vendor=f"V{i}") for i in range(3)]
    theirs = make_po(who=manager)  # a task for grandboss, not for the manager
    tasks = [open_task(r).pk for r in mine] + [open_task(theirs).pk]
    response = as_user(manager).post(
        "/tasks/bulk-decide/", {"tasks": tasks, "decision": "approve"}, follow=True
    )
    texts = messages_of(response)
    for pk in tasks[:3]:
        assert any(t.startswith(f"Task {pk} ") and "approved" in t for t in texts)
    assert any(t.startswith(f"Task {tasks[3]}: not approved") for t in texts)
    assert any("3 of 4 approved" in t for t in texts)
    for r in mine:
        r.refresh_from_db()
        assert r.state == "approved"
    assert open_task(theirs).state == "open"


def test_bulk_approve_with_nothing_ticked_says_so(as_user, manager):
    response = as_user(manager).post("/tasks/bulk-decide/", {"decision": "approve"}, follow=True)
    assert any("Tick at least one" in m for m in messages_of(response))


def test_bulk_cannot_reject(make_po, as_user, manager):
    req = make_po()
    response = as_user(manager).post(
        "/tasks/bulk-decide/", {"tasks": [open_task(req).pk], "decision": "reject"}, follow=True
    )
    assert messages_of(response)
    assert open_task(req).state == "open"
