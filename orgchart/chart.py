"""The org chart at one moment, as approver resolution reads it.

Either the current tables, or the django-simple-history tables as of a past
time (``at``), behind one small interface, so the resolution rules are written
once for both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from django.utils import timezone

from config.prepared import Prepared

from .models import Absence, Person, Role, RoleMembership

if TYPE_CHECKING:
    from .resolution import Reference


class Chart:
    """The org chart at one moment: the current tables, or history as of ``at``.

    Lives for one resolution, or for many made at once against the same moment
    (``chart_for``), and caches what it read, so a chain touching the
    same person twice costs one query.
    """

    def __init__(self, at: datetime | None):
        self.historical = at is not None
        self.at = at or timezone.now()
        self._people: dict[int, Person | None] = {}
        self._absences: dict[int, list[Any]] = {}
        self._roles: dict[str, Role | None] = {}
        self._members: dict[int, list[Person]] = {}
        self._superusers: list[Person] | None = None

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
            if self.historical:
                self._people[pk] = self._people_qs().filter(id=pk).first()
            else:
                self._people[pk] = next(iter(_PERSON.objects(None, pk=pk)), None)
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

    def usernames(self, usernames: Iterable[str]) -> list[Person]:
        """The people of these usernames who exist, those not read yet read in one query
        (``by_username`` finds them then)."""
        wanted = set(usernames)
        found = [p for p in self._people.values() if p is not None and p.username in wanted]
        missing = wanted - {p.username for p in found}
        if missing:
            read = list(self._people_qs().filter(username__in=missing))
            self.remember(read)
            found += read
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
        if self._superusers is None:
            self._superusers = list(
                self._people_qs().filter(is_superuser=True, is_active=True).order_by("username")
            )
            self.remember(self._superusers)
        return self._superusers

    # --- absences -------------------------------------------------------------
    def load_absences(self, people: Iterable[Person]) -> None:
        """The absences (with a delegate) in force at ``at`` of everyone given, in one query."""
        missing = {p.pk for p in people if p.pk not in self._absences}
        if not missing:
            return
        if self.historical:
            rows = _absences(
                len(missing), Absence.history.as_of(self.at), at=self.at, **_numbered(missing)
            )
        else:
            rows = _ABSENCES.objects(len(missing), at=self.at, **_numbered(missing))
        for pk in missing:
            self._absences[pk] = []
        for absence in rows:
            self._absences[absence.person_id].append(absence)
        self.people(a.delegate_id for rows in self._absences.values() for a in rows)

    def prime(self, people: Iterable[Person], *, requesters: Collection[int] = ()) -> None:
        """Batch-read what settling many people reads (resolution's rules 1-3): their
        absences, then the people who would stand in for them (delegates, the manager
        of one who left or of one of the ``requesters``) and their absences, and so
        on down the chains, so that resolving a whole role, or a batch of
        references, costs a few queries per link of the longest chain, not a few
        per person. Each person is read once, so cycles end."""
        frontier = [p for p in people if p is not None]
        self.remember(frontier)
        while frontier:
            self.load_absences(frontier)
            # Delegates were read with their absences; managers are read here.
            after = {a.delegate_id for p in frontier for a in self._absences[p.pk]}
            after.update(
                p.manager_id
                for p in frontier
                if p.manager_id is not None and (not p.is_active or p.pk in requesters)
            )
            self.people(after)
            found = [self._people[pk] for pk in after]
            frontier = [p for p in found if p is not None and p.pk not in self._absences]

    def absence(self, person: Person, workflow_key: str) -> Any | None:
        self.load_absences([person])
        for absence in self._absences[person.pk]:
            covered = absence.workflows or []
            if not covered or workflow_key in covered:
                return absence
        return None

    # --- roles ----------------------------------------------------------------
    def role(self, name: str) -> Role | None:
        if name not in self._roles:
            if self.historical:
                self._roles[name] = Role.history.as_of(self.at).filter(name=name).first()
            else:
                self._roles[name] = next(iter(_ROLE.objects(None, name=name)), None)
        return self._roles[name]

    def members(self, role: Role) -> list[Person]:
        """The role's members at ``at``, ordered by username for determinism."""
        if role.pk not in self._members:
            self._members[role.pk] = self._read_members(role)
        return list(self._members[role.pk])

    def _read_members(self, role: Role) -> list[Person]:
        if self.historical:
            person_ids = list(
                RoleMembership.history.as_of(self.at)
                .filter(role_id=role.pk)
                .values_list("person_id", flat=True)
            )
            found = list(self._people_qs().filter(id__in=person_ids).order_by("username"))
        else:
            found = _MEMBERS.objects(None, role_id=role.pk)
        self.remember(found)
        return found


# The reads of the current chart that every resolution makes, compiled once per process
# (``Prepared``): opening a step reads its approver, their absences, a role and its
# members. The history reads (``as_of``) are built each time.
def _absences(n: int, absences: Any = None, *, at: datetime, **people: int) -> Any:
    """The absences with a delegate in force at ``at`` of ``n`` people (``p0``…)."""
    qs = Absence.objects.all() if absences is None else absences
    return qs.filter(
        person_id__in=[people[f"p{i}"] for i in range(n)],
        start__lte=at,
        end__gt=at,
        delegate_id__isnull=False,
    ).order_by("start")


def _numbered(pks: Iterable[int]) -> dict[str, int]:
    return {f"p{i}": pk for i, pk in enumerate(sorted(pks))}


_PERSON = Prepared(lambda shape, pk: Person.objects.filter(id=pk)[:1])
_ROLE = Prepared(lambda shape, name: Role.objects.filter(name=name)[:1])
_MEMBERS = Prepared(
    lambda shape, role_id: Person.objects.filter(memberships__role_id=role_id).order_by("username")
)
_ABSENCES = Prepared(_absences)


class Wanted(NamedTuple):
    """One reference to resolve with a shared chart: ``resolve``'s arguments."""

    ref: Reference
    requester: Person
    inputs: Mapping[str, Any] | None = None
    approver: Person | None = None


def chart_for(wanted: Iterable[Wanted]) -> Chart:
    """The org chart as it is now, with what resolving all these references reads
    (``resolve(chart=...)`` for each, with the same results as one at a time)
    already loaded in a few queries per level of the longest manager climb and
    delegation chain, however many references: the people the references name,
    their absences, their delegates' and so on. What only some paths need is read
    on demand, and kept: the fallback role at the first fallback, a climb past the
    requester's manager."""
    chart = Chart(None)
    wanted = list(wanted)
    chart.remember(w.requester for w in wanted)
    chart.remember(w.approver for w in wanted if w.approver is not None)
    climbs: list[tuple[Person, int]] = []
    named: list[Any] = []
    roles: set[str] = set()
    for ref, requester, inputs, approver in wanted:
        if ref.kind in ("requester_manager", "approver_manager"):
            start = requester if ref.kind == "requester_manager" else approver
            if start is not None:
                climbs.append((start, max(ref.depth, 1)))
        elif ref.kind in ("user", "input"):
            named.append(ref.value if ref.kind == "user" else (inputs or {}).get(ref.value))
        elif ref.kind == "role":
            roles.add(ref.value)
    settled: list[Person | None] = []
    while climbs:  # one query per level, for every climb at once
        chart.people(person.manager_id for person, _ in climbs)
        bosses = [(chart.manager(person), levels - 1) for person, levels in climbs]
        settled.extend(boss for boss, levels in bosses if levels == 0)
        climbs = [(boss, levels) for boss, levels in bosses if boss is not None and levels]
    settled.extend(chart.usernames(n for n in named if isinstance(n, str) and n))
    for name in sorted(roles):
        role = chart.role(name)
        settled.extend(chart.members(role) if role is not None else [])
    chart.prime(settled, requesters={w.requester.pk for w in wanted})
    return chart
