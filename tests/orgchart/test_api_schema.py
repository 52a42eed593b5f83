"""The org chart's API operations against its own OpenAPI schema (schemathesis,
in-process WSGI): generated bodies and parameters, valid and invalid, must never
give a server error, and every response must match the schema."""

from __future__ import annotations

from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from orgchart.models import Absence
from tests.factories import PersonFactory, add_members

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application).include(
    path_regex=r"^/api/v1/(people|roles|out-of-office)/"
)


@pytest.fixture
def _keep_test_connection():
    """Schemathesis calls the WSGI app directly, so each response fires
    request_finished, whose close_old_connections would close the connection that
    holds the test's transaction on PostgreSQL (Django's test client unhooks it too)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(requester, delegate, finance, _keep_test_connection) -> str:
    add_members(finance, requester)
    now = timezone.now()
    Absence.objects.create(
        person=requester, delegate=delegate, start=now, end=now + timedelta(days=2)
    )
    PersonFactory(username="root", is_superuser=True, is_staff=True)
    return Token.objects.get_or_create(user=requester)[0].key


@schema.parametrize()
@hypothesis.settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_org_chart_operations_never_fail_and_match_the_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
