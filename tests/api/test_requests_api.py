"""Requests through the API: submit (by key, by event, on behalf), read, filter,
comment, attach, cancel, resubmit."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from approvals import services
from approvals.models import Request
from audit.models import AuditEvent
from tests.api.conftest import client_for, grant

PO_INPUTS = {"amount": 1200, "vendor": "Acme"}


def test_submit_returns_the_request_with_the_contract_fields(po_workflow, requester, manager):
    response = client_for(requester).post(
        "/api/v1/requests/",
        {"workflow": "po", "inputs": PO_INPUTS, "title": "Laptop", "entity_type": "booking",
         "entity_id": "42"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    for field in ("id", "workflow", "workflow_version", "state", "requester", "inputs",
                  "created_at", "decided_at", "current_step", "tasks", "history"):
        assert field in body
    assert body["workflow"] == "po" and body["workflow_version"] == 1
    assert body["state"] == "pending" and body["requester"] == "requester"
    assert body["current_step"] == "approval" and body["decided_at"] is None
    assert {t["assignee"] for t in body["tasks"]} == {"manager", "frank"}
    for task in body["tasks"]:
        for field in ("id", "request", "step", "state", "assignee", "on_behalf_of",
                      "delegation_chain", "due_at", "created_at"):
            assert field in task
    assert body["history"][0]["type"] == "request_submitted"
    assert body["history"][0]["actor"]["via"] == "api"
    assert {"type", "at", "actor"} <= set(body["history"][0])


def test_submit_by_event_resolves_the_workflow_through_its_triggers(po_workflow, requester):
    response = client_for(requester).post(
        "/api/v1/requests/", {"event": "po.requested", "inputs": PO_INPUTS}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["workflow"] == "po"


def test_submit_with_an_unknown_event_is_400_and_creates_nothing(po_workflow, requester):
    response = client_for(requester).post(
        "/api/v1/requests/", {"event": "nobody.listens", "inputs": PO_INPUTS}, format="json"
    )
    assert response.status_code == 400
    assert "event" in response.json()
    assert Request.objects.count() == 0


def test_submit_needs_exactly_one_of_workflow_and_event(po_workflow, requester):
    client = client_for(requester)
    both = client.post("/api/v1/requests/", {"workflow": "po", "event": "po.requested"},
                       format="json")
    neither = client.post("/api/v1/requests/", {"inputs": PO_INPUTS}, format="json")
    assert both.status_code == neither.status_code == 400


def test_bad_inputs_are_field_errors_under_inputs(po_workflow, requester):
    response = client_for(requester).post(
        "/api/v1/requests/", {"workflow": "po", "inputs": {"amount": -5}}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["inputs"]
    assert "amount" in errors and "vendor" in errors
    assert Request.objects.count() == 0


def test_unknown_workflow_is_a_field_error(db, requester):
    response = client_for(requester).post(
        "/api/v1/requests/", {"workflow": "nope", "inputs": {}}, format="json"
    )
    assert response.status_code == 400
    assert "workflow" in response.json()


def test_an_employee_cannot_submit_on_behalf_of_someone_else(po_workflow, requester, outsider):
    response = client_for(outsider).post(
        "/api/v1/requests/",
        {"workflow": "po", "inputs": PO_INPUTS, "requester": "requester"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed_on_behalf"
    assert Request.objects.count() == 0


def test_a_service_account_without_the_permission_cannot_submit_on_behalf(
    po_workflow, requester, service_account
):
    response = client_for(service_account).post(
        "/api/v1/requests/",
        {"workflow": "po", "inputs": PO_INPUTS, "requester": "requester"},
        format="json",
    )
    assert response.status_code == 403


def test_a_permitted_service_account_submits_on_behalf_and_the_audit_shows_both(
    po_workflow, requester, service_account
):
    bot = grant(service_account, "approvals_api.submit_on_behalf")
    response = client_for(bot).post(
        "/api/v1/requests/",
        {"workflow": "po", "inputs": PO_INPUTS, "requester": "requester"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["requester"] == "requester" and body["submitted_by"] == "erp-bot"
    event = AuditEvent.objects.get(request_id=body["id"], event_type="request_submitted")
    assert event.actor["user"] == "erp-bot" and event.actor["on_behalf_of"] == "requester"


def test_the_service_account_that_submitted_a_restricted_request_may_read_it(
    po_workflow, requester, service_account
):
    bot = grant(service_account, "approvals_api.submit_on_behalf")
    client = client_for(bot)
    created = client.post(
        "/api/v1/requests/",
        {"workflow": "po", "inputs": PO_INPUTS, "requester": "requester"},
        format="json",
    )
    assert client.get(f"/api/v1/requests/{created.json()['id']}/").status_code == 200


def test_on_behalf_of_an_unknown_person_is_400(po_workflow, service_account):
    bot = grant(service_account, "approvals_api.submit_on_behalf")
    response = client_for(bot).post(
        "/api/v1/requests/",
        {"workflow": "po", "inputs": PO_INPUTS, "requester": "ghost"},
        format="json",
    )
    assert response.status_code == 400 and "requester" in response.json()


@pytest.fixture
def several(expense_workflow, po_workflow, requester, outsider):
    made = {
        "mine_cheap": services.submit(workflow_key="expense", requester=requester,
                                      inputs={"amount": 12, "note": "taxi to the airport"},
                                      title="Taxi"),
        "mine_po": services.submit(workflow_key="po", requester=requester,
                                   inputs={"amount": 900, "vendor": "Globex"}, title="Chair",
                                   entity_type="booking", entity_id="42"),
        "theirs": services.submit(workflow_key="expense", requester=outsider,
                                  inputs={"amount": 30, "note": "lunch"}, title="Lunch"),
    }
    services.cancel(request_id=made["theirs"].pk, actor=outsider)
    return made


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {r["id"] for r in response.json()["results"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"mine_cheap", "mine_po", "theirs"}),
        ("?mine=true", {"mine_cheap", "mine_po"}),
        ("?state=cancelled", {"theirs"}),
        ("?state=pending&workflow=expense", {"mine_cheap"}),
        ("?requester=outsider", {"theirs"}),
        ("?entity_type=booking&entity_id=42", {"mine_po"}),
        ("?q=airport", {"mine_cheap"}),  # in the inputs
        ("?q=CHAIR", {"mine_po"}),  # in the title, any case
        ("?q=globex", {"mine_po"}),
    ],
)
def test_filters(several, requester, query, expected):
    response = client_for(requester).get(f"/api/v1/requests/{query}")
    assert _ids(response) == {several[name].pk for name in expected}


def test_an_invalid_filter_value_is_400(several, requester):
    response = client_for(requester).get("/api/v1/requests/?state=bogus")
    assert response.status_code == 400 and "state" in response.json()


def test_the_list_is_paginated(several, requester):
    response = client_for(requester).get("/api/v1/requests/?page_size=2")
    body = response.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert client_for(requester).get("/api/v1/requests/?page=99").status_code == 404


def test_comment_is_added_without_changing_the_state(scene):
    rid = scene.request.pk
    response = scene.client("assignee").post(
        f"/api/v1/requests/{rid}/comments/", {"text": "Which model?"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["author"] == "manager"
    detail = scene.client("requester").get(f"/api/v1/requests/{rid}/").json()
    assert detail["state"] == "pending"
    assert [c["text"] for c in detail["comments"]] == ["Which model?"]
    assert "comment_added" in [e["type"] for e in detail["history"]]


def test_an_empty_comment_is_400(scene):
    response = scene.client("requester").post(
        f"/api/v1/requests/{scene.request.pk}/comments/", {"text": ""}, format="json"
    )
    assert response.status_code == 400 and "text" in response.json()


def test_attachment_is_stored_and_listed(scene):
    rid = scene.request.pk
    response = scene.client("requester").post(
        f"/api/v1/requests/{rid}/attachments/",
        {"file": SimpleUploadedFile("quote.pdf", b"%PDF-1.4 the quote")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["filename"] == "quote.pdf"
    detail = scene.client("requester").get(f"/api/v1/requests/{rid}/").json()
    assert [a["filename"] for a in detail["attachments"]] == ["quote.pdf"]


def test_a_failed_attachment_leaves_no_file_behind(scene, settings, monkeypatch):
    """The file is written inside the service's transaction; when the transaction
    fails after that (here: its audit event), the file goes with the row."""
    from approvals.services import requests as request_services

    def broken(*args, **kwargs):
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr(request_services, "log_event", broken)
    with pytest.raises(RuntimeError, match="audit write failed"):
        services.add_attachment(
            request_id=scene.request.pk, author=scene.people["requester"],
            uploaded=SimpleUploadedFile("quote.pdf", b"%PDF-1.4 the quote"),
        )
    def files() -> list:
        return [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]

    assert not scene.request.attachments.exists()
    assert files() == []
    monkeypatch.undo()
    services.add_attachment(
        request_id=scene.request.pk, author=scene.people["requester"],
        uploaded=SimpleUploadedFile("quote.pdf", b"%PDF-1.4 the quote"),
    )
    assert len(files()) == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [("virus.exe", b"MZ..."), ("empty.pdf", b"")],
)
def test_attachment_beyond_the_limits_is_400(scene, name, content):
    response = scene.client("requester").post(
        f"/api/v1/requests/{scene.request.pk}/attachments/",
        {"file": SimpleUploadedFile(name, content)},
        format="multipart",
    )
    assert response.status_code == 400
    assert "file" in response.json()


def test_attachment_too_large_is_400(scene, settings):
    settings.APPROVALS = {**settings.APPROVALS, "ATTACHMENT_MAX_BYTES": 10}
    response = scene.client("requester").post(
        f"/api/v1/requests/{scene.request.pk}/attachments/",
        {"file": SimpleUploadedFile("big.pdf", b"x" * 11)},
        format="multipart",
    )
    assert response.status_code == 400


def test_attachment_without_a_file_is_400(scene):
    response = scene.client("requester").post(
        f"/api/v1/requests/{scene.request.pk}/attachments/", {}, format="multipart"
    )
    assert response.status_code == 400 and "file" in response.json()


def test_cancel_then_cancel_again_is_409(scene):
    client = scene.client("requester")
    path = f"/api/v1/requests/{scene.request.pk}/cancel/"
    first = client.post(path, {}, format="json")
    assert first.status_code == 200 and first.json()["state"] == "cancelled"
    again = client.post(path, {}, format="json")
    assert again.status_code == 409 and again.json()["code"]


def test_resubmit_after_changes_requested(scene):
    decided = scene.client("assignee").post(
        f"/api/v1/tasks/{scene.manager_task.pk}/decision/",
        {"decision": "request_changes", "comment": "Need a second quote"},
        format="json",
    )
    assert decided.status_code == 200, decided.content
    assert decided.json()["request"]["state"] == "changes_requested"
    path = f"/api/v1/requests/{scene.request.pk}/resubmit/"
    bad = scene.client("requester").post(path, {"inputs": {"amount": "many"}}, format="json")
    assert bad.status_code == 400 and "inputs" in bad.json()
    good = scene.client("requester").post(
        path, {"inputs": {"amount": 800, "vendor": "Initech"}}, format="json"
    )
    assert good.status_code == 200, good.content
    assert good.json()["state"] == "pending" and good.json()["inputs"]["vendor"] == "Initech"
