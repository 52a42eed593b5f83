"""The org chart at one moment, as approver resolution reads it.

Either the current tables, or the django-simple-history tables as of a past
time (``at``), behind one small interface, so the resolution rules are written
once for both.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from .models import Absence, Person, Role, RoleMembership


class Chart:
    """The org chart at one moment: the current tables, or history as of ``at``.

    Lives for one resolution and caches what it read, so a chain touching the
    same person twice costs one query.
    """

    def __init__(self, at: datetime | None):
        self.historical = at is not None
        self.at = at or timezone.now()
        self._people: dict[int, Person | None] = {}
        self._absences: dict[int, list[Any]] = {}

    # --- people ---------------------------------------------------------------
    # Filters on the history querysets say ``id``, never ``pk``: there ``pk`` is the
    # history row's own key (simple-history translates only a bare ``pk=``).
    def _people_qs(self) -> Any:
        return Person.history.as_of(self.at) if self.historical else Person.objects.all()

    def remember(self, people: Iterable[Person]) -> None:
        for person in people:
            self._people.setdefault(person.pk, person)

    def person(self, pk: int | None) -> Person | None:
        if pk is None:
            return None
        if pk not in self._people:
            self._people[pk] = self._people_qs().filter(id=pk).first()
        return self._people[pk]

    def people(self, pks: Iterable[int]) -> None:
        """Load many people in one query (a role's delegates)."""
        missing = {pk for pk in pks if pk is not None and pk not in self._people}
        if missing:
            found = {p.pk: p for p in self._people_qs().filter(id__in=missing)}
            for pk in missing:
                self._people[pk] = found.get(pk)

    def by_username(self, username: str) -> Person | None:
        for person in self._people.values():
            if person is not None and person.username == username:
                return person
        found = self._people_qs().filter(username=username).first()
        if found is not None:
            self._people[found.pk] = found
        return found

    def as_then(self, person: Person) -> Person | None:
        """The given person as the chart knew them (a past state when ``at`` is given)."""
        if not self.historical:
            self.remember([person])
            return person
        return self.person(person.pk)

    def manager(self, person: Person) -> Person | None:
        return self.person(person.manager_id)

    def superusers(self) -> list[Person]:
        found = list(
            self._people_qs().filter(is_superuser=True, is_active=True).order_by("username")
        )
        self.remember(found)
        return found

    # --- absences -------------------------------------------------------------
    def load_absences(self, people: Iterable[Person]) -> None:
        """The absences (with a delegate) in force at ``at`` of everyone given, in one query."""
        missing = {p.pk for p in people if p.pk not in self._absences}
        if not missing:
            return
        qs = Absence.history.as_of(self.at) if self.historical else Absence.objects.all()
        rows = qs.filter(
            person_id__in=missing, start__lte=self.at, end__gt=self.at, delegate_id__isnull=False
        ).order_by("start")
        for pk in missing:
            self._absences[pk] = []
        for absence in rows:
            self._absences[absence.person_id].append(absence)
        self.people(a.delegate_id for rows in self._absences.values() for a in rows)

    def prime(self, people: list[Person]) -> None:
        """Batch-read the absences of many people and of their delegates, so that
        resolving a whole role costs a few queries, not a few per member."""
        self.load_absences(people)
        delegates = {a.delegate_id for p in people for a in self._absences.get(p.pk, [])}
        self.load_absences(p for pk in delegates if (p := self._people.get(pk)) is not None)

    def absence(self, person: Person, workflow_key: str) -> Any | None:
        self.load_absences([person])
        for absence in self._absences[person.pk]:
            covered = absence.workflows or []
            if not covered or workflow_key in covered:
                return absence
        return None

    # --- roles ----------------------------------------------------------------
    def role(self, name: str) -> Role | None:
        qs = Role.history.as_of(self.at) if self.historical else Role.objects.all()
        return qs.filter(name=name).first()

    def members(self, role: Role) -> list[Person]:
        """The role's members at ``at``, ordered by username for determinism."""
        if self.historical:
            person_ids = list(
                RoleMembership.history.as_of(self.at)
                .filter(role_id=role.pk)
                .values_list("person_id", flat=True)
            )
            found = list(self._people_qs().filter(id__in=person_ids).order_by("username"))
        else:
            found = list(Person.objects.filter(memberships__role=role).order_by("username"))
        self.remember(found)
        return found
