"""Absence and deactivation services: the rules, the refusals, the signal the engine hears."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from orgchart import selectors
from orgchart.errors import NotAllowed, OrgChartError
from orgchart.models import Absence
from orgchart.services import (
    absence_claim_task_move,
    absence_create,
    absence_delete,
    absence_update,
    person_deactivate,
    person_reactivate,
)
from orgchart.signals import person_deactivated
from tests.factories import PersonFactory

DAY = timedelta(days=1)


@pytest.fixture
def now():
    return timezone.now()


def test_a_person_records_an_absence_and_history_names_them(manager, delegate, now):
    absence = absence_create(
        person=manager, start=now, end=now + 3 * DAY, delegate=delegate, actor=manager
    )
    assert absence.delegate == delegate
    assert absence.history.get().history_user == manager
    assert selectors.absence_current(manager, now + DAY) == absence


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"delegate": "self"}, "delegate", "someone other than the absent person"),
        ({"end": -DAY}, "end", "The end must be after the start"),
        ({"end": 0 * DAY}, "end", "The end must be after the start"),
        ({"delegate": "gone"}, "delegate", "has left"),
        ({"workflows": ["Bad Key"]}, "workflows", "workflow keys"),
        ({"delegate": None, "move_open_tasks": True}, "move_open_tasks", "needs a delegate"),
    ],
)
def test_bad_absences_are_refused_and_nothing_is_written(
    manager, delegate, now, change, field, message
):
    kwargs = {"person": manager, "start": now, "end": now + DAY, "delegate": delegate}
    if change.get("delegate") == "self":
        change = {"delegate": manager}
    elif change.get("delegate") == "gone":
        change = {"delegate": PersonFactory(username="gone", is_active=False)}
    elif "end" in change:
        change = {"end": now + change["end"]}
    kwargs.update(change)
    with pytest.raises(OrgChartError) as caught:
        absence_create(actor=manager, **kwargs)
    assert message in caught.value.errors[field][0]
    assert not Absence.objects.exists()
    assert not Absence.history.exists()


def test_an_overlapping_absence_is_refused(manager, delegate, now):
    absence_create(person=manager, start=now, end=now + 5 * DAY, delegate=delegate)
    with pytest.raises(OrgChartError, match="overlaps manager's absence"):
        absence_create(person=manager, start=now + 4 * DAY, end=now + 9 * DAY, delegate=delegate)
    # Back to back is not an overlap: the end is exclusive.
    absence_create(person=manager, start=now + 5 * DAY, end=now + 9 * DAY, delegate=delegate)
    assert Absence.objects.count() == 2


def test_someone_else_may_not_set_my_absence(manager, delegate, outsider, now):
    with pytest.raises(NotAllowed):
        absence_create(person=manager, start=now, end=now + DAY, delegate=delegate, actor=outsider)


def test_update_changes_only_what_is_given_and_checks_again(manager, delegate, outsider, now):
    first = absence_create(person=manager, start=now, end=now + DAY, delegate=delegate)
    second = absence_create(person=manager, start=now + 2 * DAY, end=now + 3 * DAY)
    updated = absence_update(absence_id=first.pk, actor=manager, delegate=outsider)
    assert updated.delegate == outsider and updated.end == now + DAY
    with pytest.raises(OrgChartError, match="overlaps"):
        absence_update(absence_id=second.pk, actor=manager, start=now + DAY / 2)
    second.refresh_from_db()
    assert second.start == now + 2 * DAY


def test_an_absence_of_someone_else_is_not_found(manager, delegate, outsider, now):
    absence = absence_create(person=manager, start=now, end=now + DAY, delegate=delegate)
    with pytest.raises(OrgChartError) as caught:
        absence_delete(absence_id=absence.pk, actor=outsider)
    assert caught.value.code == "not_found"
    absence_delete(absence_id=absence.pk, actor=manager)
    assert not Absence.objects.exists()
    assert Absence.history.filter(history_type="-").get().history_user == manager


def test_absences_starting_lists_what_must_move_once(manager, delegate, requester, now):
    due = absence_create(
        person=manager, start=now - DAY, end=now + DAY, delegate=delegate, move_open_tasks=True
    )
    absence_create(person=requester, start=now - DAY, end=now + DAY, delegate=delegate)
    absence_create(
        person=delegate, start=now + DAY, end=now + 2 * DAY, delegate=manager, move_open_tasks=True
    )
    assert list(selectors.absences_starting(now)) == [due]
    assert absence_claim_task_move(absence_id=due.pk) is True
    assert absence_claim_task_move(absence_id=due.pk) is False  # a second sweeper gets nothing
    assert list(selectors.absences_starting(now)) == []


def test_deactivation_sends_the_signal_inside_the_transaction(requester, manager):
    heard = []

    def receiver(sender, person, actor, **kwargs):
        heard.append(
            (person.username, actor.username, transaction.get_connection().in_atomic_block)
        )

    person_deactivated.connect(receiver)
    try:
        person_deactivate(person=requester, actor=manager)
        person_deactivate(person=requester, actor=manager)  # already gone: nothing again
    finally:
        person_deactivated.disconnect(receiver)
    assert heard == [("requester", "manager", True)]
    requester.refresh_from_db()
    assert not requester.is_active
    assert requester.history.first().history_user == manager


def test_a_failing_receiver_rolls_the_deactivation_back(requester, manager):
    def receiver(sender, person, actor, **kwargs):
        raise RuntimeError("could not move the tasks")

    person_deactivated.connect(receiver)
    try:
        with pytest.raises(RuntimeError):
            person_deactivate(person=requester, actor=manager)
    finally:
        person_deactivated.disconnect(receiver)
    requester.refresh_from_db()
    assert requester.is_active


def test_reactivation_brings_a_person_back(requester):
    person_deactivate(person=requester, actor=None)
    person_reactivate(person=requester, actor=None)
    requester.refresh_from_db()
    assert requester.is_active
