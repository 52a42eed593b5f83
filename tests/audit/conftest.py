"""Audit fixtures: workflows (public and restricted), requests, and their events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from django.db import connection, transaction

from approvals.models import Request, Workflow, WorkflowVersion
from audit.models import ArchivedEvent, AuditArchive, AuditEvent
from audit.services import SYSTEM, Actor, record_event
from tests.browser.conftest import browser, open_session  # noqa: F401 (shared browser fixtures)
from tests.factories import PersonFactory, RoleFactory, add_members


def make_workflow(key: str, *, restricted: bool = False, viewers: list[str] | None = None):
    workflow = Workflow.objects.create(key=key, title=key.replace("_", " ").title())
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=1,
        source=f"workflow: {key}\n",
        content_hash=f"{key}-1",
        restricted=restricted,
        viewers=viewers or [],
    )
    Workflow.objects.filter(pk=workflow.pk).update(latest_version=version)
    return version


@pytest.fixture
def purchase_order(db):
    return make_workflow("purchase_order")


@pytest.fixture
def hr_case(db):
    """A restricted workflow; members of hr-viewers may look on."""
    return make_workflow("hr_case", restricted=True, viewers=["hr-viewers"])


@pytest.fixture
def auditor(grandboss):
    person = PersonFactory(username="audrey", name="Audrey Auditor", manager=grandboss)
    add_members(RoleFactory(name="auditors"), person)
    return person


@pytest.fixture
def hr_viewer(grandboss):
    person = PersonFactory(username="hank", name="Hank HR", manager=grandboss)
    add_members(RoleFactory(name="hr-viewers"), person)
    return person


def new_request(version: WorkflowVersion, requester, inputs: dict[str, Any]) -> Request:
    return Request.objects.create(
        workflow=version.workflow, workflow_version=version, requester=requester, inputs=inputs
    )


def snapshot(request: Request, state: str, **extra: Any) -> dict[str, Any]:
    return {"state": state, "inputs": request.inputs, **extra}


@pytest.fixture
def emit() -> Callable[..., AuditEvent]:
    """Write one event for a request, as the engine would, in its own transaction."""

    def _emit(
        request: Request,
        event_type: str,
        who: str,
        *,
        at: datetime | None = None,
        on_behalf_of: str | None = None,
        state: str = "pending",
        payload: dict[str, Any] | None = None,
    ) -> AuditEvent:
        with transaction.atomic():
            return record_event(
                event_type=event_type,
                actor=Actor(user=who, on_behalf_of=on_behalf_of, via="web"),
                request_id=request.pk,
                workflow_key=request.workflow.key,
                workflow_version=request.workflow_version.number,
                payload=payload or {},
                snapshot=snapshot(request, state),
                inputs=request.inputs,
                at=at,
            )

    return _emit


def tamper(sql: str, params: list[Any] | None = None) -> None:
    """Change audit rows behind the application's back, as an attacker with
    table-owner rights would: with the append-only trigger disabled on PostgreSQL."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        try:
            cursor.execute(sql, params or [])
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def store_events(rows: list[dict[str, Any]]) -> list[AuditEvent | ArchivedEvent]:
    """Events written straight into the tier each row names (``"tier": "hot"`` or
    ``"archive"``, the rest are columns), for tests of order and of query plans:
    their hashes chain nothing. Returns them in the order given."""
    archive = None
    stored: list[AuditEvent | ArchivedEvent] = []
    for line, row in enumerate(rows, 1):
        columns = {
            "workflow_key": "purchase_order",
            "actor": SYSTEM.as_dict(),
            "actor_username": SYSTEM.user,
            "prev_hash": "0" * 64,
            **row,
        }
        columns.setdefault("hash", uuid.uuid4().hex * 2)
        if columns.pop("tier") == "hot":
            stored.append(AuditEvent(**columns))
            continue
        if archive is None:
            moment = columns["at"]
            archive = AuditArchive.objects.create(
                name=f"test-{uuid.uuid4().hex}.jsonl.gz", sha256="0" * 64, event_count=0,
                first_at=moment, last_at=moment,
            )
        columns.setdefault("id", uuid.uuid4())
        stored.append(ArchivedEvent(archive=archive, line=line, **columns))
    AuditEvent.objects.bulk_create(e for e in stored if isinstance(e, AuditEvent))
    ArchivedEvent.objects.bulk_create(e for e in stored if isinstance(e, ArchivedEvent))
    return stored
