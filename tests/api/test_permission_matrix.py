"""Every endpoint by every persona: who may see what and do what.

404 for objects a persona may not know exist, 403 for actions on objects they can
see, 401 for anonymous callers. Each cell runs in a savepoint that is rolled back,
so an action in one cell never changes another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api.conftest import Scene, undone

PERSONAS = ["anonymous", "requester", "assignee", "delegate", "outsider", "viewer", "author",
            "admin"]

NEW_RECIPE = """\
workflow: matrix_new
title: New one
steps:
  - id: manager
    approver: "{{ requester.manager }}"
"""


def _rid(s: Scene) -> int:
    return s.request.pk


# name: (method, path, body, format, expected status per persona (anonymous is always 401))
Cell = tuple[str, Callable[[Scene], str], Callable[[Scene], Any], str, dict[str, int]]

R, A, D, OUT = "requester", "assignee", "delegate", "outsider"
V, AU, AD = "viewer", "author", "admin"


def row(requester: int, assignee: int, delegate: int, outsider: int, viewer: int, author: int,
        admin: int) -> dict[str, int]:
    return {R: requester, A: assignee, D: delegate, OUT: outsider, V: viewer, AU: author,
            AD: admin}


ENDPOINTS: dict[str, Cell] = {
    "list requests": ("get", lambda s: "/api/v1/requests/", lambda s: None, "json",
                      row(200, 200, 200, 200, 200, 200, 200)),
    "read request": ("get", lambda s: f"/api/v1/requests/{_rid(s)}/", lambda s: None, "json",
                     row(200, 200, 200, 404, 200, 404, 200)),
    "submit": ("post", lambda s: "/api/v1/requests/",
               lambda s: {"workflow": "po", "inputs": {"amount": 10, "vendor": "X"}}, "json",
               row(201, 201, 201, 201, 201, 201, 201)),
    "comment": ("post", lambda s: f"/api/v1/requests/{_rid(s)}/comments/",
                lambda s: {"text": "Which model?"}, "json",
                row(201, 201, 201, 404, 201, 404, 201)),
    "attach": ("post", lambda s: f"/api/v1/requests/{_rid(s)}/attachments/",
               lambda s: {"file": SimpleUploadedFile("quote.pdf", b"%PDF-1.4 quote")},
               "multipart", row(201, 201, 201, 404, 403, 404, 403)),
    "cancel": ("post", lambda s: f"/api/v1/requests/{_rid(s)}/cancel/",
               lambda s: {"comment": "no longer needed"}, "json",
               row(200, 403, 403, 404, 403, 404, 403)),
    "resubmit": ("post", lambda s: f"/api/v1/requests/{_rid(s)}/resubmit/",
                 lambda s: {"inputs": {"amount": 5, "vendor": "Y"}}, "json",
                 # the requester may, but the request was not sent back: a state conflict
                 row(409, 403, 403, 404, 403, 404, 403)),
    "inbox": ("get", lambda s: "/api/v1/tasks/", lambda s: None, "json",
              row(200, 200, 200, 200, 200, 200, 200)),
    "read task": ("get", lambda s: f"/api/v1/tasks/{s.manager_task.pk}/", lambda s: None,
                  "json", row(200, 200, 200, 404, 200, 404, 200)),
    "decide own task": ("post", lambda s: f"/api/v1/tasks/{s.manager_task.pk}/decision/",
                        lambda s: {"decision": "approve"}, "json",
                        row(403, 200, 403, 404, 403, 404, 403)),
    "decide delegated task": ("post",
                              lambda s: f"/api/v1/tasks/{s.delegate_task.pk}/decision/",
                              lambda s: {"decision": "approve"}, "json",
                              row(403, 403, 200, 404, 403, 404, 403)),
    # an administrator may reassign anyone's task (but not decide it)
    "delegate task": ("post", lambda s: f"/api/v1/tasks/{s.manager_task.pk}/delegate/",
                      lambda s: {"to": "fiona"}, "json",
                      row(403, 200, 403, 404, 403, 404, 200)),
    "list workflows": ("get", lambda s: "/api/v1/workflows/", lambda s: None, "json",
                       row(200, 200, 200, 200, 200, 200, 200)),
    "read workflow": ("get", lambda s: "/api/v1/workflows/po/", lambda s: None, "json",
                      row(200, 200, 200, 200, 200, 200, 200)),
    "publish": ("post", lambda s: "/api/v1/workflows/", lambda s: NEW_RECIPE, "yaml",
                row(403, 403, 403, 403, 403, 201, 201)),
    "simulate": ("post", lambda s: "/api/v1/workflows/po/simulate/",
                 lambda s: {"inputs": {"amount": 10, "vendor": "X"}, "requester": "requester"},
                 "json", row(403, 403, 403, 403, 403, 200, 200)),
}

# Bulk decisions always answer 200; each task's own status is in its result.
BULK_INNER = row(403, 200, 403, 404, 403, 404, 403)


def call(scene: Scene, persona: str, method: str, path: str, body: Any, fmt: str) -> Any:
    client = scene.client(persona)
    if method == "get":
        return client.get(path)
    if fmt == "yaml":
        return client.post(path, data=body, content_type="application/yaml")
    return client.post(path, data=body, format=fmt)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_permission_matrix(scene, endpoint):
    method, path, body, fmt, expected = ENDPOINTS[endpoint]
    got, want = {}, {}
    for persona in PERSONAS:
        with undone():
            response = call(scene, persona, method, path(scene), body(scene), fmt)
        got[persona] = response.status_code
        want[persona] = 401 if persona == "anonymous" else expected[persona]
        if response.status_code >= 400:
            assert set(response.json()) == {"detail", "code"}, (persona, response.json())
    assert got == want


def test_bulk_decision_matrix(scene):
    got, want = {}, {}
    for persona in PERSONAS:
        with undone():
            response = call(
                scene, persona, "post", "/api/v1/tasks/bulk-decision/",
                {"tasks": [scene.manager_task.pk], "decision": "approve"}, "json",
            )
        if persona == "anonymous":
            got[persona], want[persona] = response.status_code, 401
            continue
        assert response.status_code == 200
        [result] = response.json()["results"]
        assert result["task"] == scene.manager_task.pk
        assert result["ok"] is (result["status"] == 200)
        got[persona], want[persona] = result["status"], BULK_INNER[persona]
    assert got == want


@pytest.mark.parametrize("persona", [OUT, AU])
def test_list_hides_restricted_requests_from_non_participants(scene, persona):
    listed = scene.client(persona).get("/api/v1/requests/").json()
    assert scene.request.pk not in [r["id"] for r in listed["results"]]
    tasks = scene.client(persona).get("/api/v1/tasks/?assignee=all&state=all").json()
    assert tasks["count"] == 0


@pytest.mark.parametrize("persona", [R, A, D, V, AD])
def test_list_shows_restricted_requests_to_those_who_may_see_them(scene, persona):
    listed = scene.client(persona).get("/api/v1/requests/").json()
    assert scene.request.pk in [r["id"] for r in listed["results"]]
