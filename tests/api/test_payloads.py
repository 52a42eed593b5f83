"""The request document and the decided task are written from rows by lean writers
(RequestDetailRows, task_row + TaskListSerializer); they must say byte for byte what
RequestDetailSerializer and TaskSerializer say (API.md, the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Prefetch
from rest_framework.renderers import JSONRenderer

from approvals import services
from approvals.api.serializers import RequestDetailSerializer, TaskSerializer
from approvals.api.views.requests import request_payload
from approvals.models import Attachment, Comment, Request, Task
from audit.models import AuditEvent

from .conftest import client_for


def serializer_document(request_id: int) -> dict[str, Any]:
    """The document as RequestDetailSerializer writes it from model instances."""
    request = (
        Request.objects.select_related("workflow", "workflow_version", "requester",
                                       "submitted_by")
        .prefetch_related(
            Prefetch("tasks", queryset=Task.objects.select_related("assignee", "on_behalf_of")),
            Prefetch("comments", queryset=Comment.objects.select_related("author")),
            Prefetch("attachments", queryset=Attachment.objects.select_related("uploaded_by")),
        )
        .get(pk=request_id)
    )
    history = list(AuditEvent.objects.filter(request_id=request_id).order_by("seq"))
    return RequestDetailSerializer(request, context={"history": {request_id: history}}).data


def same(ours: Any, theirs: Any) -> None:
    assert ours == theirs
    assert JSONRenderer().render(ours) == JSONRenderer().render(theirs)


def rendered(data: Any) -> bytes:
    """The body DRF sends for ``data`` (JSON, compact, UTF-8)."""
    return JSONRenderer().render(data)


def test_the_decision_answers_what_the_serializers_say(scene, service_account):
    rid = scene.request.pk
    requester = scene.people["requester"]
    services.add_comment(request_id=rid, author=requester, text="Which model? <b>&</b> \u00e9")
    services.add_comment(request_id=rid, author=scene.people["assignee"], text="The 14-inch.")
    services.add_attachment(
        request_id=rid, author=requester,
        uploaded=SimpleUploadedFile("quote.pdf", b"%PDF-1.4 the quote"),
    )
    # Someone submitted it on the requester's behalf, about an entity.
    Request.objects.filter(pk=rid).update(
        submitted_by=service_account, entity_type="po", entity_id="PO-7"
    )
    Task.objects.filter(pk=scene.manager_task.pk).update(role="managers")

    response = scene.client("assignee").post(
        f"/api/v1/tasks/{scene.manager_task.pk}/decision/", {"decision": "approve"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    decided = Task.objects.select_related(
        "request__workflow", "request__requester", "assignee", "on_behalf_of"
    ).get(pk=scene.manager_task.pk)
    assert response.content == rendered(
        {"task": TaskSerializer(decided).data, "request": serializer_document(rid)}
    )
    assert body["task"]["state"] == "approved" and body["task"]["role"] == "managers"
    assert [c["text"] for c in body["request"]["comments"]][1] == "The 14-inch."
    assert body["request"]["attachments"][0]["filename"] == "quote.pdf"
    assert body["request"]["submitted_by"] == "erp-bot"
    assert any(t["delegation_chain"] for t in body["request"]["tasks"])
    assert any(t["on_behalf_of"] for t in body["request"]["tasks"])

    # The last decision closes the request: decided_at set, no current step.
    response = scene.client("delegate").post(
        f"/api/v1/tasks/{scene.delegate_task.pk}/decision/",
        {"decision": "reject", "comment": "Too dear"}, format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["request"]["state"] == "rejected" and body["request"]["current_step"] is None
    decided = Task.objects.select_related(
        "request__workflow", "request__requester", "assignee", "on_behalf_of"
    ).get(pk=scene.delegate_task.pk)
    assert response.content == rendered(
        {"task": TaskSerializer(decided).data, "request": serializer_document(rid)}
    )
    # The request read on its own says the same.
    same(request_payload(rid), serializer_document(rid))
    detail = client_for(scene.people["requester"]).get(f"/api/v1/requests/{rid}/")
    assert detail.content == rendered(serializer_document(rid))


def test_a_new_request_answers_what_the_serializer_says(po_workflow, requester, manager):
    response = client_for(requester).post(
        "/api/v1/requests/",
        {"workflow": "po", "inputs": {"amount": "12.50", "vendor": "Acme"}, "title": ""},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.content == rendered(serializer_document(response.json()["id"]))
