"""The out-of-office page: my absences and delegate, and for whom I act."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from orgchart.models import Absence


def _days(n: int) -> str:
    return (date.today() + timedelta(days=n)).isoformat()


def test_every_page_links_to_out_of_office(as_user, requester):
    html = as_user(requester).get("/").content.decode()
    assert 'href="/me/out-of-office/"' in html
    assert 'href="/reports/"' not in html, "reports are for authors and auditors"
    assert 'href="/audit/"' not in html


def test_auditors_see_the_reports_and_audit_links(as_user, requester):
    requester.is_superuser = True
    requester.save()
    html = as_user(requester).get("/").content.decode()
    assert 'href="/reports/"' in html
    assert 'href="/audit/"' in html


def test_set_an_absence_with_a_delegate(as_user, manager, delegate):
    client = as_user(manager)
    response = client.post(
        "/me/out-of-office/",
        {"start": _days(1), "end": _days(5), "delegate": "delegate", "note": "Holiday"},
    )
    assert response.status_code == 302
    absence = Absence.objects.get()
    assert absence.person == manager and absence.delegate == delegate
    # First day at midnight up to the day after the last: five whole days.
    assert (absence.end - absence.start) == timedelta(days=5)
    html = client.get("/me/out-of-office/").content.decode()
    assert "Carol Delegate" in html and "Holiday" in html


def test_the_delegate_sees_for_whom_they_act(as_user, manager, delegate):
    now = timezone.now()
    Absence.objects.create(person=manager, start=now - timedelta(days=1),
                           end=now + timedelta(days=2), delegate=delegate)
    html = as_user(delegate).get("/me/out-of-office/").content.decode()
    assert "You act for" in html and "Bob Manager" in html
    mine = as_user(manager).get("/me/out-of-office/").content.decode()
    assert "You are away until" in mine and "Carol Delegate acts for you" in mine


def test_bad_absences_are_refused_in_place(as_user, manager):
    client = as_user(manager)
    cases = [
        ({"start": _days(5), "end": _days(1)}, "end"),
        ({"start": _days(1), "end": _days(2), "delegate": "nobody"}, "delegate"),
        ({"start": _days(1), "end": _days(2), "delegate": "manager"}, "delegate"),
        ({"start": "not a date", "end": _days(2)}, "start"),
        ({"start": _days(1), "end": _days(2), "move_open_tasks": "on"}, "move_open_tasks"),
    ]
    for data, field in cases:
        response = client.post("/me/out-of-office/", data)
        assert response.status_code == 400, data
        assert field in response.context["form"].errors, (data, response.context["form"].errors)
    assert not Absence.objects.exists()


def test_an_overlap_is_refused_by_the_service(as_user, manager, delegate):
    client = as_user(manager)
    client.post("/me/out-of-office/", {"start": _days(1), "end": _days(5), "delegate": "delegate"})
    response = client.post("/me/out-of-office/", {"start": _days(3), "end": _days(8)})
    assert response.status_code == 400
    assert "overlaps" in response.content.decode()
    assert Absence.objects.count() == 1


def test_remove_my_absence_but_not_someone_elses(as_user, manager, delegate, outsider):
    now = timezone.now()
    absence = Absence.objects.create(person=manager, start=now + timedelta(days=1),
                                     end=now + timedelta(days=2), delegate=delegate)
    response = as_user(outsider).post(f"/me/out-of-office/{absence.pk}/delete/", follow=True)
    assert any("No such absence" in str(m) for m in response.context["messages"])
    assert Absence.objects.filter(pk=absence.pk).exists()
    as_user(manager).post(f"/me/out-of-office/{absence.pk}/delete/")
    assert not Absence.objects.filter(pk=absence.pk).exists()
