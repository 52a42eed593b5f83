"""The one way the org chart changes: absences, deactivation, loading an HR file.

Every service runs in one transaction, checks everything before writing, and
records who made the change on the simple-history row (``_history_user``).
Org-chart history is the org chart's audit trail; the engine audits what it
does with tasks when it hears of a change (``signals.person_deactivated``,
``selectors.absences_starting``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .errors import NotAllowed, OrgChartError
from .models import Absence, Person
from .orgfile import day_window, parse_org
from .signals import person_deactivated

__all__ = [
    "absence_claim_task_move",
    "absence_create",
    "absence_delete",
    "absence_update",
    "day_window",
    "load_org",
    "person_deactivate",
    "person_reactivate",
]

_WORKFLOW_KEY = re.compile(r"^[a-z0-9_-]{1,100}\Z")
NON_FIELD = "non_field_errors"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _may_change(actor: Person | None, person: Person) -> bool:
    """People set their own absences; org-chart administrators set anyone's."""
    return actor is None or actor.pk == person.pk or actor.has_perm("orgchart.change_absence")


def absence_problems(
    *,
    person: Person,
    start: datetime,
    end: datetime,
    delegate: Person | None,
    workflows: Sequence[str],
    move_open_tasks: bool,
    exclude_pk: int | None = None,
) -> dict[str, list[str]]:
    """What is wrong with this absence, by field (empty when nothing is)."""
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if timezone.is_naive(start) or timezone.is_naive(end):
        add(NON_FIELD, "start and end need a time zone")
        return errors
    if end <= start:
        add("end", "The end must be after the start.")
    if delegate is not None:
        if delegate.pk == person.pk:
            add("delegate", "The delegate must be someone other than the absent person.")
        elif not delegate.is_active:
            add("delegate", f"{delegate.username} has left; choose someone who can act.")
    if move_open_tasks and delegate is None:
        add("move_open_tasks", "Moving open tasks needs a delegate to move them to.")
    if not isinstance(workflows, list | tuple) or not all(
        isinstance(w, str) and _WORKFLOW_KEY.match(w) for w in workflows
    ):
        add("workflows", "Workflows must be a list of workflow keys.")
    if "end" not in errors:
        clash = (
            Absence.objects.filter(person=person, start__lt=end, end__gt=start)
            .exclude(pk=exclude_pk)
            .order_by("start")
            .first()
        )
        if clash is not None:
            add(
                NON_FIELD,
                f"This overlaps {person.username}'s absence from "
                f"{timezone.localtime(clash.start):%Y-%m-%d %H:%M} to "
                f"{timezone.localtime(clash.end):%Y-%m-%d %H:%M}.",
            )
    return errors


def _lock_person(person: Person) -> Person:
    """Lock the absent person's row: two overlapping absences saved at once then
    take turns, and the second sees the first."""
    return Person.objects.select_for_update().get(pk=person.pk)


def _refuse(errors: dict[str, list[str]]) -> None:
    if errors:
        first = next(iter(errors.values()))[0]
        raise OrgChartError(first, errors=errors)


def absence_create(
    *,
    person: Person,
    start: datetime,
    end: datetime,
    delegate: Person | None = None,
    workflows: Sequence[str] = (),
    move_open_tasks: bool = False,
    note: str = "",
    actor: Person | None = None,
) -> Absence:
    """Record that ``person`` is away from ``start`` to ``end`` (exclusive) and who
    acts for them. Refuses a delegate equal to the person or gone, an end not after
    the start, and an overlap with another absence of the person."""
    if actor is not None and not _may_change(actor, person):
        raise NotAllowed("You may only set your own absences.")
    with transaction.atomic():
        _lock_person(person)
        workflows = list(workflows)
        _refuse(
            absence_problems(
                person=person,
                start=start,
                end=end,
                delegate=delegate,
                workflows=workflows,
                move_open_tasks=move_open_tasks,
            )
        )
        absence = Absence(
            person=person,
            start=start,
            end=end,
            delegate=delegate,
            workflows=workflows,
            move_open_tasks=move_open_tasks,
            note=note[:300],
        )
        absence._history_user = actor  # type: ignore[attr-defined]
        absence.save()
    return absence


def _own_absence(actor: Person | None, absence_id: int) -> Absence:
    absence = Absence.objects.select_related("person", "delegate").filter(pk=absence_id).first()
    # Someone else's absence is "not found", not "forbidden": ids are not a directory.
    if absence is None or (actor is not None and not _may_change(actor, absence.person)):
        raise OrgChartError("No such absence.", code="not_found")
    return absence


def absence_update(
    *,
    absence_id: int,
    actor: Person | None = None,
    start: datetime = UNSET,
    end: datetime = UNSET,
    delegate: Person | None = UNSET,
    workflows: Sequence[str] = UNSET,
    move_open_tasks: bool = UNSET,
    note: str = UNSET,
) -> Absence:
    """Change an absence; only the fields given change, with the same checks as
    ``absence_create``."""
    with transaction.atomic():
        absence = _own_absence(actor, absence_id)
        _lock_person(absence.person)
        absence = Absence.objects.select_related("person", "delegate").get(pk=absence_id)
        changes = {
            "start": start,
            "end": end,
            "delegate": delegate,
            "workflows": list(workflows) if workflows is not UNSET else UNSET,
            "move_open_tasks": move_open_tasks,
            "note": note[:300] if note is not UNSET else UNSET,
        }
        for key, value in changes.items():
            if value is not UNSET:
                setattr(absence, key, value)
        _refuse(
            absence_problems(
                person=absence.person,
                start=absence.start,
                end=absence.end,
                delegate=absence.delegate,
                workflows=absence.workflows,
                move_open_tasks=absence.move_open_tasks,
                exclude_pk=absence.pk,
            )
        )
        absence._history_user = actor  # type: ignore[attr-defined]
        absence.save()
    return absence


def absence_delete(*, absence_id: int, actor: Person | None = None) -> None:
    """Remove an absence (its history rows stay, so past resolutions still replay)."""
    with transaction.atomic():
        absence = _own_absence(actor, absence_id)
        absence._history_user = actor  # type: ignore[attr-defined]
        absence.delete()


def absence_claim_task_move(*, absence_id: int, at: datetime | None = None) -> bool:
    """Mark an absence's open tasks as moved. True only for the one caller that
    flipped ``tasks_moved_at`` from empty, so two sweepers never move twice.

    The engine calls it inside the transaction that moves the tasks: if that
    transaction rolls back, the claim does too and the next sweep tries again.
    """
    claimed = Absence.objects.filter(
        pk=absence_id, move_open_tasks=True, tasks_moved_at__isnull=True
    ).update(tasks_moved_at=at or timezone.now())
    return claimed == 1


def person_deactivate(*, person: Person, actor: Person | None = None) -> Person:
    """Mark a person as gone. Inside the same transaction ``person_deactivated`` is
    sent, so the engine moves their open tasks to their manager atomically with it.
    Deactivating someone already inactive changes nothing and sends nothing."""
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        if not locked.is_active:
            return locked
        locked.is_active = False
        locked._history_user = actor  # type: ignore[attr-defined]
        locked.save(update_fields=["is_active"])
        person_deactivated.send(sender=Person, person=locked, actor=actor)
    person.is_active = False
    return locked


def person_reactivate(*, person: Person, actor: Person | None = None) -> Person:
    """Mark a person as back (a rehire, a deactivation by mistake)."""
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        if not locked.is_active:
            locked.is_active = True
            locked._history_user = actor  # type: ignore[attr-defined]
            locked.save(update_fields=["is_active"])
    person.is_active = True
    return locked


def load_org(
    *,
    text: str,
    fmt: str | None = None,
    filename: str = "",
    dry_run: bool = False,
    actor: Person | None = None,
) -> Any:
    """Create or update people, managers, roles and absences from an HR export
    (YAML, JSON or CSV; see ``orgfile``). Idempotent: a second load of the same
    file changes nothing and the report says so. Every problem is checked first
    and reported with its line; then everything is written in one transaction,
    or nothing. ``dry_run`` only reports what would change.

    Returns an ``orgsync.LoadReport``.
    """
    from .orgsync import apply_plan, plan_org  # the planner imports these services

    org = parse_org(text, fmt=fmt, filename=filename)
    with transaction.atomic():
        plan = plan_org(org)
        if not dry_run:
            apply_plan(plan, actor=actor)
    plan.report.dry_run = dry_run
    return plan.report
