"""Restricted workflows' events: participants, viewer roles and auditors only —
in the API, the pages and the export alike."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from approvals import services
from tests.factories import PersonFactory, RoleFactory, add_members

DEMO = Path(__file__).resolve().parents[2] / "approvals" / "demo"


@pytest.fixture
def world(admins_role, finance, requester, manager, outsider, delegate):
    """A restricted purchase order by the requester, decided by the manager; a public
    leave request by the outsider; another purchase order by someone else."""
    RoleFactory(name="procurement-auditors")
    add_members(RoleFactory(name="hr-leave-admin"), PersonFactory(username="hannah"))
    services.publish(source=(DEMO / "purchase_order.yaml").read_text())
    services.publish(source=(DEMO / "leave_request.yaml").read_text())
    po = services.submit(
        workflow_key="purchase_order", requester=requester,
        inputs={"amount": "900.00", "vendor": "Acme"},
    )
    task = po.tasks.get(state="open")
    services.decide(task_id=task.pk, actor=task.assignee, decision="approve")
    leave = services.submit(
        workflow_key="leave_request", requester=outsider,
        inputs={"start_date": "2026-12-01", "days": 1},
    )
    other_po = services.submit(
        workflow_key="purchase_order", requester=delegate,
        inputs={"amount": "300.00", "vendor": "Other"},
    )
    return {"po": po, "leave": leave, "other_po": other_po}


def requests_seen(client, person, url: str = "/api/v1/audit/") -> set[int]:
    client.force_login(person)
    response = client.get(url, {"page_size": 500})
    assert response.status_code == 200
    return {e["request"] for e in response.json()["results"] if e["request"]}


def exported(client, person) -> set[int]:
    client.force_login(person)
    body = b"".join(client.get("/api/v1/audit/export/").streaming_content).decode()
    return {int(r["request"]) for r in csv.DictReader(io.StringIO(body)) if r["request"]}


def paged(client, person) -> str:
    client.force_login(person)
    response = client.get("/audit/")
    assert response.status_code == 200
    return response.content.decode()


def test_outsider_sees_public_events_but_not_restricted_ones(client, world, outsider):
    seen = requests_seen(client, outsider)
    assert seen == {world["leave"].pk}
    assert exported(client, outsider) == {world["leave"].pk}
    page = paged(client, outsider)
    assert f"#{world['leave'].pk}" in page and f"#{world['po'].pk}<" not in page
    replay = client.get(f"/audit/requests/{world['po'].pk}/")
    assert replay.status_code == 404
    assert client.get(f"/audit/requests/{world['leave'].pk}/").status_code == 200


def test_restricted_workflow_published_event_is_hidden_from_outsiders(client, world, outsider):
    client.force_login(outsider)
    published = client.get("/api/v1/audit/", {"event_type": "workflow_published"}).json()
    assert [e["workflow"] for e in published["results"]] == ["leave_request"]


def test_participants_see_their_restricted_request_and_no_other(
    client, world, requester, manager
):
    assert requests_seen(client, requester) == {world["po"].pk, world["leave"].pk}
    assert requests_seen(client, manager) == {world["po"].pk, world["leave"].pk}
    assert exported(client, requester) == {world["po"].pk, world["leave"].pk}


def test_viewer_role_sees_every_request_of_the_restricted_workflow(client, world, grandboss):
    viewer = PersonFactory(username="vera", manager=grandboss)
    add_members(RoleFactory(name="procurement-auditors"), viewer)
    everything = {world["po"].pk, world["leave"].pk, world["other_po"].pk}
    assert requests_seen(client, viewer) == everything


@pytest.mark.parametrize("kind", ["auditors_role", "permission", "superuser"])
def test_auditors_see_everything(client, world, grandboss, kind):
    person = PersonFactory(username=f"aud-{kind}", manager=grandboss)
    if kind == "auditors_role":
        add_members(RoleFactory(name="auditors"), person)
    elif kind == "permission":
        person.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    else:
        person.is_superuser = True
        person.save()
    everything = {world["po"].pk, world["leave"].pk, world["other_po"].pk}
    assert requests_seen(client, person) == everything
    assert exported(client, person) == everything
    assert client.get(f"/audit/requests/{world['po'].pk}/").status_code == 200


def test_visibility_costs_the_same_queries_for_few_or_many_events(
    client, world, outsider, requester, django_assert_num_queries
):
    from audit.filters import EventFilter
    from audit.selectors import events_for
    from orgchart.models import Person

    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        person = Person.objects.get(pk=outsider.pk)  # a fresh object: nothing cached
        with CaptureQueriesContext(connection) as ctx:
            list(events_for(person, EventFilter()))
        return len(ctx.captured_queries)

    before = count_queries()
    for amount in ("1.00", "2.00", "3.00"):
        services.submit(
            workflow_key="purchase_order", requester=requester,
            inputs={"amount": amount, "vendor": "More"},
        )
    assert count_queries() == before <= 6
