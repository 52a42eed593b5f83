"""Property-based run of the live OpenAPI schema (schemathesis, in-process WSGI).

Every operation of /api/v1/schema/ is called with generated inputs, valid and
invalid, as a superuser holding data (a restricted request with open tasks, two
workflows). No response may be a server error, and every response must match the
schema: a documented status code, content type, headers and body shape.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def _keep_test_connection():
    """Schemathesis calls the WSGI app directly, so each response fires
    request_finished, whose close_old_connections would close the connection holding
    the test's transaction (on PostgreSQL). Django's test client unhooks it likewise."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(scene, expense_workflow, _keep_test_connection) -> str:
    token, _ = Token.objects.get_or_create(user=scene.people["admin"])
    return token.key


# Loaded at collection: the schema view needs no database (anonymous, no session).
# Every operation under /api/v1/ except the schema and the docs page themselves.
schema = (
    schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    .include(path_regex=r"^/api/v1/")
    .exclude(path_regex=r"^/api/v1/(schema|docs)/")
)


@schema.parametrize()
@hypothesis.settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same cases on every run: a CI failure can be replayed
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_no_response_breaks_the_schema(case, admin_token):
    case.call_and_validate(headers={"Authorization": f"Token {admin_token}"}, checks=CHECKS)
