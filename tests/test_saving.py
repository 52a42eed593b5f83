"""config.saving: ``save_fields`` and ``insert`` write what ``Model.save()`` writes,
leave the instance as it does and send the same signals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.db.models.signals import post_save, pre_save
from django.forms.models import model_to_dict
from django.utils import timezone

from approvals import services
from approvals.models import Decision, Request, Task
from config.saving import insert, save_fields
from tests.approvals.conftest import publish

pytestmark = pytest.mark.django_db

RECIPE = """
workflow: saved
title: Saved
inputs:
  amount: {type: money, required: true, min: 0}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
"""


@pytest.fixture
def task(admins_role, requester):
    publish(RECIPE)
    request = services.submit(workflow_key="saved", requester=requester, inputs={"amount": "5"})
    return Task.objects.select_related("request").get(request=request)


@pytest.fixture
def signals():
    seen: list[tuple] = []

    def pre(sender, instance, raw, using, update_fields, **kwargs):
        seen.append(("pre", sender, instance.pk, raw, using, update_fields))

    def post(sender, instance, created, raw, using, update_fields, **kwargs):
        seen.append(("post", sender, instance.pk, created, raw, using, update_fields))

    for model in (Task, Request, Decision):
        pre_save.connect(pre, sender=model, dispatch_uid=f"test-saving-pre-{model.__name__}")
        post_save.connect(post, sender=model, dispatch_uid=f"test-saving-post-{model.__name__}")
    yield seen
    for model in (Task, Request, Decision):
        pre_save.disconnect(sender=model, dispatch_uid=f"test-saving-pre-{model.__name__}")
        post_save.disconnect(sender=model, dispatch_uid=f"test-saving-post-{model.__name__}")


def row(model, pk) -> dict:
    return model_to_dict(model.objects.get(pk=pk))


def test_save_fields_writes_the_fields_and_signals_as_save_does(task, signals):
    request = task.request
    later = timezone.now() + timedelta(days=3)
    ours, theirs = Request.objects.get(pk=request.pk), Request.objects.get(pk=request.pk)
    before = ours.updated_at
    for instance, save in (
        (ours, lambda r: save_fields(r, "title", "current_step", "decided_at", "updated_at")),
        (theirs, lambda r: r.save(
            update_fields=["title", "current_step", "decided_at", "updated_at"])),
    ):
        instance.title, instance.current_step, instance.decided_at = "new title", "x", later
        instance.inputs = {"not": "saved"}  # not in the fields: left as it is
        save(instance)
    assert signals[:2] == signals[2:]
    assert signals[0] == ("pre", Request, request.pk, False, "default",
                          frozenset({"title", "current_step", "decided_at", "updated_at"}))
    assert signals[1][0] == "post" and signals[1][3] is False
    assert ours.updated_at > before  # auto_now stamped, as save() does
    saved = row(Request, request.pk)
    assert saved["title"] == "new title" and saved["current_step"] == "x"
    assert saved["inputs"] == {"amount": "5.00"}
    assert Request.objects.get(pk=request.pk).decided_at == later
    # A foreign key by name or attname, a JSON field.
    task.resolution = {"notes": ["a", 1, None]}
    save_fields(task, "resolution", "assignee_id")
    assert Task.objects.get(pk=task.pk).resolution == {"notes": ["a", 1, None]}


def test_insert_makes_the_row_save_would_make(task, signals, manager):
    request = task.request
    ours = Decision(task=task, request=request, decision="approve", comment="ok",
                    decided_by=manager, via="api")
    insert(ours)
    assert ours.pk is not None and not ours._state.adding and ours._state.db == "default"
    assert ours.created_at is not None  # auto_now_add stamped
    assert signals == [
        ("pre", Decision, None, False, "default", None),
        ("post", Decision, ours.pk, True, False, "default", None),
    ]
    stored = Decision.objects.get(pk=ours.pk)
    assert model_to_dict(stored) == model_to_dict(ours)
    assert stored.created_at == ours.created_at
    # The same task again: the constraint refuses it, and the transaction is marked
    # for rollback as save() marks it.
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(Decision(task=task, request=request, decision="reject", decided_by=manager))
        pytest.fail("not reached")
    new = Task(request=request, step_id="manager", round=0, assignee=manager, role="")
    insert(new)
    assert row(Task, new.pk)["state"] == "open"  # field defaults, as save() writes them


def test_refused_uses(task):
    task.decided_at = F("created_at")
    with pytest.raises(TypeError, match="expressions"):
        save_fields(task, "decided_at")
    with pytest.raises(ValueError, match="no updatable fields"):
        save_fields(task, "nonsense")
    gone = Task.objects.get(pk=task.pk)
    Task.objects.filter(pk=task.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"), transaction.atomic():
        save_fields(gone, "role")
    save_fields(gone, "role", missing_ok=True)  # filter(pk=…).update(…)'s way: no error
