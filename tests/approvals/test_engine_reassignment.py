"""Nothing is left with someone who cannot act."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import services
from audit.models import AuditEvent
from orgchart.models import Absence
from orgchart.services import person_deactivate
from tests.approvals.conftest import open_tasks

pytestmark = pytest.mark.django_db


def test_deactivating_an_approver_moves_their_open_tasks_to_their_manager(
    purchase_order, requester, manager, grandboss
):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    person_deactivate(person=manager)
    [task] = open_tasks(request)
    assert task.assignee == grandboss
    assert task.on_behalf_of == manager
    assert AuditEvent.objects.filter(request_id=request.pk, event_type="task_reassigned").exists()


def test_an_absence_that_moves_tasks_hands_them_to_the_delegate_once(
    purchase_order, requester, manager, delegate
):
    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    now = timezone.now()
    Absence.objects.create(person=manager, delegate=delegate, start=now - timedelta(hours=1),
                           end=now + timedelta(days=3), move_open_tasks=True)
    assert services.move_tasks_of_started_absences(now=now) == 1
    assert services.move_tasks_of_started_absences(now=now) == 0, "moved once"
    [task] = open_tasks(request)
    assert task.assignee == delegate
    assert task.on_behalf_of == manager
    assert task.delegation_chain == ["manager", "delegate"]


def test_the_beat_task_moves_tasks_of_started_absences(purchase_order, requester, manager,
                                                       delegate):
    from approvals.tasks import move_absent_tasks

    request = services.submit(workflow_key="purchase_order", requester=requester,
                              inputs={"amount": "100", "vendor": "A"})
    now = timezone.now()
    Absence.objects.create(person=manager, delegate=delegate, start=now - timedelta(minutes=1),
                           end=now + timedelta(days=1), move_open_tasks=True)
    assert move_absent_tasks.delay().get() == 1
    assert open_tasks(request)[0].assignee == delegate
