"""No input yields a 500: malformed bodies, wrong types, huge values, unknown and
non-integer ids, bad query strings and bad credentials all get a clear 4xx in JSON,
and change nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from approvals.models import Comment, Request
from tests.api.conftest import undone

POSTS = [
    "/api/v1/requests/",
    "/api/v1/requests/{rid}/comments/",
    "/api/v1/requests/{rid}/cancel/",
    "/api/v1/requests/{rid}/resubmit/",
    "/api/v1/tasks/{tid}/decision/",
    "/api/v1/tasks/{tid}/delegate/",
    "/api/v1/tasks/bulk-decision/",
    "/api/v1/workflows/",
    "/api/v1/workflows/po/simulate/",
]

RAW_BODIES = [
    b"{not json",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1e400}',
    b'{"a": ' + b"9" * 5000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"text": "nul \\u0000 here"}',
    b'{"text": "lone \\udc00 surrogate"}',
    b'{"key \\ud800 with a lone surrogate": 1}',
    b"\xff\xfe\x00",
    b"null",
    b"42",
    b'"a string"',
    b"[]",
]


def _path(template: str, scene) -> str:
    return template.format(rid=scene.request.pk, tid=scene.manager_task.pk)


@pytest.mark.parametrize("template", POSTS)
def test_malformed_json_bodies_are_4xx(scene, template):
    client = scene.client("admin")  # the admin may reach every endpoint's body parsing
    before = (Request.objects.count(), Comment.objects.count())
    for raw in RAW_BODIES:
        response = client.post(_path(template, scene), data=raw,
                                content_type="application/json")
        assert 400 <= response.status_code < 500, (raw[:20], response.content[:200])
        assert response.json()
    assert (Request.objects.count(), Comment.objects.count()) == before


WRONG_TYPES = [
    ("/api/v1/requests/", {"workflow": ["po"], "inputs": "x"}),
    ("/api/v1/requests/", {"workflow": "po", "inputs": [1, 2]}),
    ("/api/v1/requests/", {"workflow": "po", "inputs": {"amount": 10**400, "vendor": "x"}}),
    ("/api/v1/requests/", {"workflow": "po", "inputs": {"amount": {"a": 1}, "vendor": 7}}),
    ("/api/v1/requests/", {"workflow": "po", "inputs": {"amount": 1, "vendor": "x",
                                                        "extra": True}}),
    ("/api/v1/requests/", {"workflow": "x" * 5000}),
    ("/api/v1/requests/", {"workflow": "po", "title": "t" * 400}),
    ("/api/v1/requests/", {"workflow": "po", "requester": 12}),
    ("/api/v1/requests/{rid}/comments/", {"text": 12}),
    ("/api/v1/requests/{rid}/comments/", {"text": "x" * 20_000}),
    ("/api/v1/requests/{rid}/resubmit/", {"inputs": None}),
    ("/api/v1/tasks/{tid}/decision/", {"decision": None}),
    ("/api/v1/tasks/{tid}/decision/", {"decision": "reject", "comment": ["no"]}),
    ("/api/v1/tasks/{tid}/delegate/", {"to": {"username": "fiona"}}),
    ("/api/v1/tasks/{tid}/delegate/", {}),
    ("/api/v1/workflows/po/simulate/", {"requester": "requester", "inputs": "x"}),
    ("/api/v1/workflows/po/simulate/", {"requester": "requester", "at": 10**30}),
]


def test_wrong_types_and_sizes_are_400(scene):
    for template, body in WRONG_TYPES:
        with undone():
            response = scene.client("admin" if "simulate" in template else "requester").post(
                _path(template, scene), body, format="json"
            )
        assert response.status_code == 400, (template, body, response.content[:300])
        assert response.json()


BAD_IDS = ["abc", "0", "-1", "1.5", "99999999999999999999999999", str(2**63), "9223372036854775807",
           "%20", "1e3", "١٢"]


@pytest.mark.parametrize(
    ("method", "template"),
    [("get", "/api/v1/requests/{}/"), ("post", "/api/v1/requests/{}/comments/"),
     ("post", "/api/v1/requests/{}/cancel/"), ("get", "/api/v1/tasks/{}/"),
     ("post", "/api/v1/tasks/{}/decision/"), ("post", "/api/v1/tasks/{}/delegate/")],
)
def test_unknown_and_non_integer_ids_are_json_404(scene, method, template):
    client = scene.client("requester")
    for bad in BAD_IDS:
        path = template.format(bad)
        if method == "get":
            response = client.get(path)
        else:
            response = client.post(path, {"text": "x", "decision": "approve", "to": "fiona"},
                                   format="json")
        assert response.status_code == 404, (path, response.content[:200])
        assert response.json()["code"] == "not_found"


BAD_QUERIES = {
    "/api/v1/requests/": {
        "state=bogus": 400, "mine=perhaps": 400, "q=" + "x" * 1000: 400, "q=%00": 400,
        "page=abc": 404, "page=-1": 404, "page=99999999999999999999": 404,
        "page_size=abc": 200, "page_size=100000": 200, "created_after=yesterday": 400,
        "created_after=1815-12-15T00:16:49.5-23:06": 200,
        "created_before=0001-01-01T00:00:00%2B01:00": 400,
        "requester=%00": 400, "entity_id=%00": 400,
    },
    "/api/v1/tasks/": {
        "state=bogus": 400, "assignee=%00": 400, "request=abc": 400, "request=1.5": 400,
        "request=99999999999999999999999": 400, "workflow=%00": 400,
        "assignee=" + "x" * 500: 400,
    },
}


@pytest.mark.parametrize("path", list(BAD_QUERIES))
def test_bad_query_strings_are_4xx(scene, path):
    client = scene.client("requester")
    got = {query: client.get(f"{path}?{query}").status_code for query in BAD_QUERIES[path]}
    assert got == BAD_QUERIES[path]


def test_bad_credentials_are_401(scene):
    for header in ["Token", "Token nope", "Token " + "a" * 300, "Token abc\x00def",
                   "Token a b", "Bearer xyz", "Basic Zm9vOmJhcg=="]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get("/api/v1/requests/")
        assert response.status_code == 401, header
        assert response.json()["detail"]


def test_an_unsupported_content_type_is_415(scene):
    response = scene.client("requester").post(
        f"/api/v1/requests/{scene.request.pk}/comments/", data="text=hi",
        content_type="text/csv",
    )
    assert response.status_code == 415 and response.json()["code"]


def test_a_non_integer_id_under_a_key_lookup_is_404(scene):
    assert scene.client("requester").get("/api/v1/workflows/%00/").status_code == 404


def test_errors_are_json_with_detail_and_code(scene):
    response = APIClient().get("/api/v1/tasks/")
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}
