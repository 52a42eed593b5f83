"""The OpenAPI document, the interactive docs (assets served locally), and the two
ways in: DRF tokens and sessions."""

from __future__ import annotations

import re
from io import StringIO

import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.api.conftest import client_for


def test_the_schema_documents_every_operation_with_its_errors(db):
    response = APIClient().get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    submit = paths["/api/v1/requests/"]["post"]
    assert {"201", "400", "401", "403", "409"} <= set(submit["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in submit["parameters"])
    publish = paths["/api/v1/workflows/"]["post"]
    assert {"application/json", "application/yaml"} <= set(publish["requestBody"]["content"])
    assert "RecipeErrors" in publish["responses"]["400"]["content"]["application/json"][
        "schema"]["$ref"]
    for path, operations in paths.items():
        if not path.startswith(("/api/v1/requests", "/api/v1/tasks", "/api/v1/workflows")):
            continue
        for method, operation in operations.items():
            assert "401" in operation["responses"], (method, path)
            if method == "post":
                names = [p["name"] for p in operation.get("parameters", [])]
                assert "Idempotency-Key" in names, path
    for path, operations in paths.items():  # every operation, org chart and audit too
        for method, operation in operations.items():
            if path not in ("/api/v1/schema/", "/api/v1/docs/"):
                assert "401" in operation["responses"], (method, path)
            if "requestBody" in operation:  # any other Content-Type is a 415
                assert "415" in operation["responses"], (method, path)


def test_the_docs_page_uses_local_assets(db, requester):
    client = APIClient()
    client.force_login(requester)
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and not [s for s in sources if s.startswith(("http:", "https:", "//"))]
    assert any("drf_spectacular_sidecar" in s for s in sources)


def test_drf_create_token_prints_a_key_that_authenticates(requester):
    out = StringIO()
    call_command("drf_create_token", "requester", stdout=out)
    key = re.search(r"[0-9a-f]{40}", out.getvalue()).group(0)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/tasks/").status_code == 200


def test_sessions_work_too_and_need_csrf_for_posts(scene):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(scene.people["requester"])
    assert client.get(f"/api/v1/requests/{scene.request.pk}/").status_code == 200
    response = client.post(f"/api/v1/requests/{scene.request.pk}/comments/", {"text": "hi"},
                           format="json")
    assert response.status_code == 403  # no CSRF token: a session POST is refused


def test_anonymous_callers_get_401_with_a_token_challenge(db):
    response = APIClient().get("/api/v1/requests/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert client_for(None).post("/api/v1/tasks/bulk-decision/", {}).status_code == 401


def test_a_token_authenticates_its_person_as_drf_would(requester, outsider):
    from django.forms.models import model_to_dict
    from rest_framework.authentication import TokenAuthentication
    from rest_framework.authtoken.models import Token

    from approvals.api.authentication import StrictTokenAuthentication

    requester.notification_channels = ["slack", "email"]
    requester.save()
    token = Token.objects.create(user=requester)
    ours = StrictTokenAuthentication().authenticate_credentials(token.key)
    drf = TokenAuthentication().authenticate_credentials(token.key)
    assert model_to_dict(ours[0]) == model_to_dict(drf[0])
    assert ours[0].notification_channels == ["slack", "email"]
    assert (ours[1].key, ours[1].user_id, ours[1].created) == (token.key, requester.pk,
                                                               drf[1].created)
    assert ours[1].user is ours[0] and not ours[0]._state.adding


def test_unknown_malformed_and_inactive_tokens_are_refused(requester):
    from rest_framework.authtoken.models import Token

    key = Token.objects.create(user=requester).key
    for bad in ("0" * 40, "not-hex", key[:-1]):
        response = APIClient(HTTP_AUTHORIZATION=f"Token {bad}").get("/api/v1/tasks/")
        assert response.status_code == 401 and response.json()["detail"] == "Invalid token."
    requester.is_active = False
    requester.save()
    response = APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/tasks/")
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."
