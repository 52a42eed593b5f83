"""Reads of the org chart: who is who, who is in which role, who is away."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .models import Absence, Person, Role


def people_list() -> QuerySet[Person]:
    """Everyone, with their manager and roles in a constant number of queries."""
    return Person.objects.select_related("manager").prefetch_related(
        Prefetch("roles", queryset=Role.objects.only("id", "name").order_by("name"))
    )


def roles_list() -> QuerySet[Role]:
    """Every role with its members (by username), in a constant number of queries."""
    return Role.objects.prefetch_related(
        Prefetch(
            "members",
            queryset=Person.objects.only("id", "username", "name").order_by("username"),
        )
    )


def absences_of(person: Person) -> QuerySet[Absence]:
    """A person's own absences, earliest first."""
    return Absence.objects.filter(person=person).select_related("delegate").order_by("start")


def absence_current(person: Person, at: datetime | None = None) -> Absence | None:
    """The absence ``person`` is in at ``at`` (now), if any."""
    at = at or timezone.now()
    return absences_of(person).filter(start__lte=at, end__gt=at).first()


def absences_starting(now: datetime | None = None) -> QuerySet[Absence]:
    """Absences whose owner's open tasks must move to the delegate now: they ask
    for it, have started, have not ended, and their tasks were not moved yet.

    The engine's sweep reads this, and for each absence claims it with
    ``services.absence_claim_task_move`` in the transaction that moves the tasks.
    """
    now = now or timezone.now()
    return (
        Absence.objects.filter(
            move_open_tasks=True,
            tasks_moved_at__isnull=True,
            start__lte=now,
            end__gt=now,
            delegate__isnull=False,
        )
        .select_related("person", "delegate")
        .order_by("start", "pk")
    )
