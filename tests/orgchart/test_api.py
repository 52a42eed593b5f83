"""The org chart API: people, roles, and the caller's out-of-office entries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orgchart.models import Absence
from tests.factories import PersonFactory, add_members


@pytest.fixture
def api(requester) -> APIClient:
    client = APIClient()
    client.force_authenticate(requester)
    return client


def test_anonymous_callers_are_refused(db):
    client = APIClient()
    for url in ("/api/v1/people/", "/api/v1/roles/", "/api/v1/out-of-office/"):
        assert client.get(url).status_code in (401, 403)


def test_a_person_has_the_contract_fields(api, requester, finance):
    add_members(finance, requester)
    body = api.get("/api/v1/people/requester/").json()
    assert body == {
        "username": "requester",
        "name": "Alice Requester",
        "email": "requester@example.com",
        "manager": "manager",
        "department": "engineering",
        "title": "",
        "roles": ["finance-approvers"],
        "active": True,
    }
    assert api.get("/api/v1/people/nobody/").status_code == 404


def test_people_filters(api, requester, outsider):
    names = lambda url: [p["username"] for p in api.get(url).json()["results"]]  # noqa: E731
    assert names("/api/v1/people/?department=sales") == ["outsider"]
    assert names("/api/v1/people/?manager=manager") == ["requester"]
    assert api.get("/api/v1/people/?active=maybe").status_code == 400


def query_count(api, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_lists_cost_the_same_queries_for_any_size(api, requester, finance):
    people_small = query_count(api, "/api/v1/people/")
    roles_small = query_count(api, "/api/v1/roles/")
    for i in range(15):
        person = PersonFactory(username=f"p{i:02}", manager=requester)
        add_members(finance, person)
    assert query_count(api, "/api/v1/people/") == people_small
    assert query_count(api, "/api/v1/roles/") == roles_small


def test_roles_list_their_members(api, finance):
    [role] = api.get("/api/v1/roles/").json()["results"]
    assert role == {"name": "finance-approvers", "description": "", "members": ["fiona", "frank"]}


def test_out_of_office_create_list_delete(api, requester, delegate, settings):
    settings.TIME_ZONE = "UTC"
    created = api.post(
        "/api/v1/out-of-office/",
        {"start": "2030-07-01", "end": "2030-07-14", "delegate": "delegate"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["delegate"] == "delegate"
    assert body["start"].startswith("2030-07-01T00:00:00")
    assert body["end"].startswith("2030-07-15T00:00:00")  # the last day is inclusive
    assert body["workflows"] == [] and body["move_open_tasks"] is False
    listed = api.get("/api/v1/out-of-office/").json()["results"]
    assert [a["id"] for a in listed] == [body["id"]]
    patched = api.patch(
        f"/api/v1/out-of-office/{body['id']}/", {"end": "2030-07-20"}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["end"].startswith("2030-07-21")
    assert api.delete(f"/api/v1/out-of-office/{body['id']}/").status_code == 204
    assert not Absence.objects.exists()


def test_exact_times_are_kept(api, delegate):
    created = api.post(
        "/api/v1/out-of-office/",
        {"start": "2030-07-01T13:00:00Z", "end": "2030-07-01T17:30:00Z", "delegate": "delegate"},
        format="json",
    )
    assert created.status_code == 201
    absence = Absence.objects.get()
    assert absence.end - absence.start == timedelta(hours=4, minutes=30)
    assert absence.start == datetime.fromisoformat("2030-07-01T13:00:00+00:00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2030-07-01", "end": "2030-07-02", "delegate": "requester"}, "delegate"),
        ({"start": "2030-07-05", "end": "2030-07-01", "delegate": "delegate"}, "end"),
        ({"start": "2030-07-01", "end": "2030-07-02", "delegate": "ghost"}, "delegate"),
        ({"start": "someday", "end": "2030-07-02"}, "start"),
        ({"end": "2030-07-02"}, "start"),
        ({"start": "2030-07-01", "end": "2030-07-02", "workflows": "all"}, "workflows"),
        ({"start": "2030-07-01", "end": "2030-07-02", "workflows": ["Not A Key"]}, "workflows"),
        ({"start": "2030-07-01", "end": "2030-07-02", "move_open_tasks": True}, "move_open_tasks"),
        ({"start": "2030-02-30", "end": "2030-07-02"}, "start"),
        # The last day there is: its "day after" does not exist (was an OverflowError).
        ({"start": "9999-12-30", "end": "9999-12-31"}, "end"),
        ({"start": "0001-01-01T00:00:00+05:00", "end": "2030-07-02"}, "start"),
    ],
)
def test_bad_bodies_get_field_errors_never_500(api, delegate, body, field):
    response = api.post("/api/v1/out-of-office/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Absence.objects.exists()


def test_an_overlap_is_a_400_with_a_message(api, delegate):
    body = {"start": "2030-07-01", "end": "2030-07-10", "delegate": "delegate"}
    assert api.post("/api/v1/out-of-office/", body, format="json").status_code == 201
    body["start"] = "2030-07-05"
    response = api.post("/api/v1/out-of-office/", body, format="json")
    assert response.status_code == 400
    assert "overlaps" in response.json()["non_field_errors"][0]
    assert (
        api.post("/api/v1/out-of-office/", "not json", content_type="application/json").status_code
        == 400
    )


def test_someone_elses_absence_is_not_found(api, manager, delegate):
    other = APIClient()
    other.force_authenticate(manager)
    created = other.post(
        "/api/v1/out-of-office/",
        {"start": "2030-07-01", "end": "2030-07-10", "delegate": "delegate"},
        format="json",
    ).json()
    assert api.get(f"/api/v1/out-of-office/{created['id']}/").status_code == 404
    assert api.delete(f"/api/v1/out-of-office/{created['id']}/").status_code == 404
    assert Absence.objects.count() == 1
