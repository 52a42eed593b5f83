"""The org chart admin: history visible, deactivation through the service, absences checked."""

from __future__ import annotations

import pytest

from orgchart.models import Absence
from orgchart.signals import person_deactivated
from tests.factories import PersonFactory


@pytest.fixture
def admin_client(client, grandboss):
    root = PersonFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    return client


def test_people_roles_and_absences_pages_render(admin_client, requester, finance):
    for url in (
        "/admin/orgchart/person/",
        "/admin/orgchart/person/add/",
        f"/admin/orgchart/person/{requester.pk}/change/",
        f"/admin/orgchart/person/{requester.pk}/history/",
        "/admin/orgchart/role/",
        f"/admin/orgchart/role/{finance.pk}/change/",
        "/admin/orgchart/absence/",
        "/admin/orgchart/absence/add/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_the_deactivate_action_calls_the_service(admin_client, requester):
    heard = []
    receiver = lambda sender, person, actor, **kw: heard.append((person.username, actor.username))  # noqa: E731
    person_deactivated.connect(receiver)
    try:
        response = admin_client.post(
            "/admin/orgchart/person/",
            {"action": "deactivate", "_selected_action": [requester.pk]},
            follow=True,
        )
    finally:
        person_deactivated.disconnect(receiver)
    assert response.status_code == 200
    assert heard == [("requester", "root")]
    requester.refresh_from_db()
    assert not requester.is_active


def test_the_absence_admin_refuses_what_the_service_refuses(admin_client, manager, delegate):
    form = {
        "person": manager.pk,
        "start_0": "2030-07-01",
        "start_1": "00:00:00",
        "end_0": "2030-07-05",
        "end_1": "00:00:00",
        "delegate": manager.pk,
        "workflows": "[]",
        "note": "",
    }
    response = admin_client.post("/admin/orgchart/absence/add/", form)
    assert response.status_code == 200
    assert "someone other than the absent person" in response.content.decode()
    assert not Absence.objects.exists()
    form["delegate"] = delegate.pk
    response = admin_client.post("/admin/orgchart/absence/add/", form)
    assert response.status_code == 302
    absence = Absence.objects.get()
    assert absence.history.get().history_user.username == "root"


def test_a_person_added_in_the_admin_lands_in_the_chart(admin_client, manager):
    response = admin_client.post(
        "/admin/orgchart/person/add/",
        {
            "username": "newbie",
            "password1": "a-long-enough-password",
            "password2": "a-long-enough-password",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from orgchart.models import Person

    assert Person.objects.filter(username="newbie").exists()
