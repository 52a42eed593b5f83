"""The authoring admin: publish, diagram, diff, simulate; read-only engine rows."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals import services
from approvals.models import Request, Task, Workflow, WorkflowVersion
from audit.models import AuditEvent
from orgchart.models import RoleCursor
from tests.authoring.conftest import make_request, make_task, make_workflow
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

GOOD = """\
workflow: purchase_order
title: Purchase order
inputs:
  amount: {type: money, required: true, min: 0}
  vendor: {type: string, required: true}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
  - id: finance
    when: amount > 5000
    type: parallel
    approvers: finance-approvers
    quorum: any
"""
BAD = """\
workflow: purchase_order
title: Purchase order
inputs:
  amount: {type: money, required: true}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
    bogus: 1
  - id: manager
    when: amount >
    approver: no-such-role
"""
PUBLISH = "/admin/approvals/workflow/publish/"


@pytest.fixture
def author_client(client, author):
    client.force_login(author)
    return client


@pytest.fixture
def published(author, finance):
    version, _ = services.publish(source=GOOD, author=author)
    return version


def publish_page(workflow: Workflow) -> str:
    return f"/admin/approvals/workflow/{workflow.pk}/publish/"


def test_changelist_lists_workflows_with_their_latest_version(author_client, published):
    page = author_client.get("/admin/approvals/workflow/")

    assert page.status_code == 200
    assert b"purchase_order" in page.content
    assert b"v1" in page.content


def test_change_page_draws_the_latest_version(author_client, published):
    page = author_client.get(f"/admin/approvals/workflow/{published.workflow_id}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and 'data-step="manager"' in html and 'data-step="finance"' in html
    assert "when amount &gt; 5000" in html
    assert "Publish a new version" in html and "Simulate" in html


def test_bad_recipe_shows_located_errors_and_creates_nothing(author_client, finance):
    page = author_client.post(PUBLISH, {"source": BAD})

    html = page.content.decode()
    assert page.status_code == 200
    assert "steps[0].bogus:8: unknown key" in html
    assert "steps[1].id:9:" in html
    assert "steps[1].when:10:" in html
    assert "steps[1].approver:11: there is no role named &#x27;no-such-role&#x27;" in html
    assert 'data-line="10"' in html  # the editor can jump to it
    assert "bogus: 1" in html  # the author's text is kept for fixing
    assert not Workflow.objects.exists()
    assert not WorkflowVersion.objects.exists()


def test_yaml_that_does_not_parse_is_a_located_error(author_client):
    page = author_client.post(PUBLISH, {"source": "workflow: [unclosed\n"})

    assert page.status_code == 200
    assert b"invalid YAML" in page.content
    assert not WorkflowVersion.objects.exists()


def test_publishing_creates_v1_then_v2_and_identical_content_nothing(author_client, finance):
    first = author_client.post(PUBLISH, {"source": GOOD}, follow=True)
    workflow = Workflow.objects.get(key="purchase_order")
    assert first.status_code == 200
    assert b"Published purchase_order v1" in first.content
    assert list(workflow.versions.values_list("number", flat=True)) == [1]

    changed = GOOD.replace("amount > 5000", "amount > 10000")
    second = author_client.post(publish_page(workflow), {"source": changed}, follow=True)
    assert b"Published purchase_order v2" in second.content
    workflow.refresh_from_db()
    assert workflow.latest_version.number == 2
    assert workflow.latest_version.published_by.username == "author"

    # Same meaning, different formatting and comments: nothing new.
    again = author_client.post(
        publish_page(workflow), {"source": "# reformatted\n" + changed + "\n\n"}, follow=True
    )
    assert b"Nothing new" in again.content
    assert workflow.versions.count() == 2


def test_publish_page_starts_from_the_latest_source(author_client, published):
    page = author_client.get(publish_page(published.workflow))

    assert page.status_code == 200
    assert b"approvers: finance-approvers" in page.content
    assert b"recipe-editor.js" in page.content


def test_add_workflow_goes_to_publish_from_yaml(author_client):
    page = author_client.get("/admin/approvals/workflow/add/")

    assert page.status_code == 302
    assert page["Location"] == PUBLISH


def test_version_page_is_read_only_with_diagram_and_source(author_client, published):
    url = f"/admin/approvals/workflowversion/{published.pk}/change/"

    page = author_client.get(url)
    refused = author_client.post(url, {"source": "workflow: hacked"})

    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and 'id="L10"' in html
    assert 'name="_save"' not in html
    assert refused.status_code == 403
    published.refresh_from_db()
    assert published.source == GOOD


def test_diff_between_versions(author_client, author, published):
    services.publish(source=GOOD.replace("quorum: any", "quorum: all"), author=author)
    workflow = published.workflow

    page = author_client.get(f"/admin/approvals/workflow/{workflow.pk}/diff/?from=1&to=2")

    html = page.content.decode()
    assert page.status_code == 200
    assert '<span class="ud-del">-' in html and '<span class="ud-add">+' in html
    assert "&quot;all&quot;" in html or '"all"' in html
    assert 'class="diff"' in html  # the side-by-side source table


def test_diff_with_unknown_versions_is_an_error_not_a_failure(author_client, published):
    url = f"/admin/approvals/workflow/{published.workflow_id}/diff/?from=99&to=x"

    page = author_client.get(url)

    assert page.status_code == 200
    assert b"No such version" in page.content


def test_simulate_shows_the_plan_and_writes_nothing(author_client, published, requester):
    url = f"/admin/approvals/workflow/{published.workflow_id}/simulate/"
    events = AuditEvent.objects.count()
    cursors = list(RoleCursor.objects.values_list("role_id", "position"))

    page = author_client.post(
        url, {"requester": "requester", "inputs": "amount=6000\nvendor=Acme <&> Co"}
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "Plan: purchase_order v1 for requester" in html
    assert "<strong>manager</strong>" in html
    assert "<strong>frank</strong>" in html and "<strong>fiona</strong>" in html
    assert not Request.objects.exists() and not Task.objects.exists()
    assert AuditEvent.objects.count() == events
    assert list(RoleCursor.objects.values_list("role_id", "position")) == cursors


def test_simulate_with_json_inputs_skips_a_step(author_client, published, requester):
    url = f"/admin/approvals/workflow/{published.workflow_id}/simulate/"

    page = author_client.post(
        url, {"requester": "requester", "inputs": '{"amount": 10, "vendor": "Acme"}'}
    )

    assert page.status_code == 200
    assert b'class="is-skipped"' in page.content


@pytest.mark.parametrize(
    ("inputs", "requester", "expected"),
    [
        ("amount=6000", "nobody", b"No person with the username"),
        ('{"amount": ', "requester", b"not valid JSON"),
        ("just words", "requester", b"line 1: expected key=value"),
        ("amount=lots\nvendor=x", "requester", b"amount"),
        ("amount=1\nvendor=x\ncolour=red", "requester", b"colour"),
    ],
)
def test_simulate_bad_input_is_a_clear_error(author_client, published, requester, inputs, expected):
    url = f"/admin/approvals/workflow/{published.workflow_id}/simulate/"

    page = author_client.post(url, {"requester": requester, "inputs": inputs})

    assert page.status_code == 200
    assert expected in page.content
    assert b"Plan:" not in page.content


def test_staff_without_publish_permission_may_not_publish_or_simulate(client, published):
    viewer = PersonFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_workflow", "view_workflowversion"])
    )
    client.force_login(viewer)
    workflow = published.workflow

    assert client.get(f"/admin/approvals/workflow/{workflow.pk}/change/").status_code == 200
    assert client.get(publish_page(workflow)).status_code == 403
    assert client.post(PUBLISH, {"source": GOOD}).status_code == 403
    simulate = f"/admin/approvals/workflow/{workflow.pk}/simulate/"
    assert client.post(simulate, {"requester": "viewer"}).status_code == 403
    assert client.get(f"/admin/approvals/workflow/{workflow.pk}/diff/").status_code == 200
    assert workflow.versions.count() == 1


def test_request_admin_is_read_only_and_shows_progress(
    author_client, published, requester, manager, now
):
    req = make_request(published.workflow, requester, created=now)
    Request.objects.filter(pk=req.pk).update(current_step="manager")
    make_task(req, "manager", manager, created=now)
    url = f"/admin/approvals/request/{req.pk}/change/"

    page = author_client.get(url)
    refused = author_client.post(url, {"state": "approved"})
    listing = author_client.get("/admin/approvals/request/?state__exact=pending")

    html = page.content.decode()
    assert page.status_code == 200
    assert 'class="step step-approval status-current"' in html
    assert refused.status_code == 403
    assert Request.objects.get(pk=req.pk).state == "pending"
    assert listing.status_code == 200 and f">{req.pk}<" in listing.content.decode()


def test_task_and_decision_lists_render(author_client, published, requester, manager, now):
    req = make_request(published.workflow, requester, created=now)
    make_task(req, "manager", manager, created=now)

    assert author_client.get("/admin/approvals/task/").status_code == 200
    assert author_client.get("/admin/approvals/decision/").status_code == 200
    assert author_client.get("/admin/approvals/task/add/").status_code == 403


def test_engine_lists_do_not_grow_queries_with_rows(
    author_client, published, requester, manager, now, django_assert_max_num_queries
):
    def add_rows(n: int) -> None:
        for _ in range(n):
            req = make_request(published.workflow, requester, created=now)
            make_task(req, "manager", manager, created=now)

    add_rows(2)
    counts = {}
    for url in ("/admin/approvals/request/", "/admin/approvals/task/"):
        with CaptureQueriesContext(connection) as few:
            author_client.get(url)
        counts[url] = len(few)
    add_rows(10)
    for url, expected in counts.items():
        with django_assert_max_num_queries(expected):
            assert author_client.get(url).status_code == 200


def test_a_stored_version_that_no_longer_parses_is_shown_not_a_failure(author_client, now):
    workflow = make_workflow("legacy", "Legacy")  # its stored source has no steps
    WorkflowVersion.objects.filter(pk=workflow.latest_version_id).update(source="steps: [")

    page = author_client.get(f"/admin/approvals/workflow/{workflow.pk}/change/")

    assert page.status_code == 200
    assert b"This version cannot be drawn" in page.content
    assert author_client.get(f"/admin/approvals/workflow/{workflow.pk}/diff/").status_code == 200
    simulate = f"/admin/approvals/workflow/{workflow.pk}/simulate/"
    refused = author_client.post(simulate, {"requester": "author", "inputs": ""})
    assert refused.status_code == 200
    assert b"recipe-faults" in refused.content
