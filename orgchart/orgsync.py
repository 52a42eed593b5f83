"""Bringing the org chart in line with a parsed org file (``load_org``).

Two phases: ``plan_org`` checks the file against the chart (unknown managers,
delegates and members, manager cycles, overlapping absences; every fault with
its line) and works out what would change, writing nothing; ``apply_plan``
writes those changes. An upsert: people, roles and absences missing from the
file are left alone; what the file lists is made to match it, so loading the
same file twice changes nothing the second time.

Identities: a person by username, a role by name, an absence by its owner and
start. A role listed in the file gets exactly the listed members; a CSV ``roles``
column gives its person exactly those roles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from .errors import OrgChartError, OrgFault
from .models import Absence, Person, Role, RoleMembership
from .orgfile import AbsenceEntry, OrgFile, PersonEntry
from .services import person_deactivate


@dataclass
class LoadReport:
    """What a load changed (or, in a dry run, would change), one line per change."""

    format: str
    people: int
    roles: int
    absences: int
    changes: list[str] = field(default_factory=list)
    tally: Counter = field(default_factory=Counter)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def lines(self) -> list[str]:
        listed = f"{self.people} people, {self.roles} roles, {self.absences} absences"
        if not self.changes:
            return [f"No changes: the org chart already matches the file ({listed})."]
        prefix = "would " if self.dry_run else ""
        summary = ", ".join(f"{n} {what}" for what, n in sorted(self.tally.items()))
        verb = "Dry run, nothing written" if self.dry_run else "Done"
        return [
            *(prefix + change for change in self.changes),
            f"{verb}: {len(self.changes)} change(s) ({summary}) from the file ({listed}).",
        ]


@dataclass
class _Context:
    people: dict[str, Person]
    actor: Person | None


Step = Callable[[_Context], None]


@dataclass
class Plan:
    report: LoadReport
    steps: list[Step] = field(default_factory=list)
    usernames: set[str] = field(default_factory=set)  # everyone the steps may touch

    def add(self, kind: str, text: str, step: Step) -> None:
        self.report.changes.append(text)
        self.report.tally[kind] += 1
        self.steps.append(step)


def _save(obj: Any, actor: Person | None, **kwargs: Any) -> None:
    obj._history_user = actor  # who changed the chart, on its history row
    obj.save(**kwargs)


def _day(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def plan_org(org: OrgFile) -> Plan:
    """Check the file against the chart and list the changes; raise
    ``OrgChartError`` with every located fault, writing nothing."""
    faults: list[OrgFault] = []
    entries: dict[str, PersonEntry] = {}
    for entry in org.people:
        if entry.username in entries:
            first = entries[entry.username]
            faults.append(
                OrgFault(
                    f"duplicate username {entry.username!r} (first at line {first.line})",
                    line=entry.line,
                    where=entry.where,
                )
            )
            continue
        entries[entry.username] = entry

    names = set(entries)
    names |= {e.manager for e in entries.values() if e.manager}
    names |= {m for r in org.roles for m in r.members}
    names |= {a.person for a in org.absences} | {a.delegate for a in org.absences if a.delegate}
    known = {
        p.username: p
        for p in Person.objects.filter(username__in=names)
        .select_related("manager")
        .prefetch_related("roles")
    }

    def exists(username: str) -> bool:
        return username in entries or username in known

    for entry in entries.values():
        if entry.manager == entry.username:
            faults.append(OrgFault("a person cannot be their own manager", entry.line, entry.where))
        elif entry.manager and not exists(entry.manager):
            faults.append(
                OrgFault(
                    f"manager {entry.manager!r} is not in the file or the org chart",
                    entry.line,
                    entry.where,
                )
            )
    faults += _manager_cycles(entries)
    for role in org.roles:
        for member in role.members:
            if not exists(member):
                faults.append(
                    OrgFault(
                        f"member {member!r} is not in the file or the org chart",
                        role.line,
                        role.where,
                    )
                )
    faults += _absence_faults(org.absences, exists)
    if faults:
        faults.sort(key=lambda f: f.line or 0)
        raise OrgChartError(f"the org file has {len(faults)} problem(s)", faults=faults)

    plan = Plan(
        LoadReport(
            format=org.format,
            people=len(entries),
            roles=len(
                {r.name for r in org.roles} | {n for e in entries.values() for n in e.roles or []}
            ),
            absences=len(org.absences),
        )
    )
    plan.usernames = names
    _plan_people(plan, entries, known)
    _plan_roles(plan, org, entries, known)
    _plan_absences(plan, org.absences, entries, known)
    return plan


def _manager_cycles(entries: dict[str, PersonEntry]) -> list[OrgFault]:
    """Manager loops in the chart as it would be after the load (file over chart)."""
    bosses: dict[str, str | None] = dict(
        Person.objects.values_list("username", "manager__username")
    )
    bosses.update({u: e.manager for u, e in entries.items()})
    faults: list[OrgFault] = []
    reported: set[str] = set()
    for username, entry in entries.items():
        if username in reported:
            continue
        path = [username]
        current = bosses.get(username)
        while current is not None and current not in path and len(path) <= len(bosses):
            path.append(current)
            current = bosses.get(current)
        if current == username:
            reported.update(path)
            faults.append(
                OrgFault(
                    f"manager cycle: {' -> '.join([*path, username])}", entry.line, entry.where
                )
            )
    return faults


def _absence_faults(absences: list[AbsenceEntry], exists: Callable[[str], bool]) -> list[OrgFault]:
    faults: list[OrgFault] = []
    existing: dict[str, list[Absence]] = {}
    for absence in Absence.objects.filter(person__username__in={a.person for a in absences}):
        existing.setdefault(absence.person.username, []).append(absence)
    checked: list[AbsenceEntry] = []
    for entry in absences:
        problems = []
        if not exists(entry.person):
            problems.append(f"person {entry.person!r} is not in the file or the org chart")
        if entry.delegate and not exists(entry.delegate):
            problems.append(f"delegate {entry.delegate!r} is not in the file or the org chart")
        if entry.delegate == entry.person:
            problems.append("the delegate must be someone other than the absent person")
        if entry.move_open_tasks and not entry.delegate:
            problems.append("move_open_tasks needs a delegate")
        if entry.end <= entry.start:
            problems.append(
                f"the end ({_day(entry.end)}) is not after the start ({_day(entry.start)})"
            )
        else:
            for other in checked:
                if (
                    other.person == entry.person
                    and other.start < entry.end
                    and entry.start < other.end
                ):
                    problems.append(f"overlaps the absence at line {other.line}")
            for other in existing.get(entry.person, []):
                if (
                    other.start != entry.start
                    and other.start < entry.end
                    and entry.start < other.end
                ):
                    problems.append(
                        f"overlaps {entry.person}'s absence from {_day(other.start)} to "
                        f"{_day(other.end)} already in the org chart"
                    )
        faults += [OrgFault(p, entry.line, entry.where) for p in problems]
        checked.append(entry)
    return faults


def _person_order(entries: dict[str, PersonEntry]) -> list[PersonEntry]:
    """Managers before their reports, so every person is saved once (no cycles here)."""
    ordered: list[PersonEntry] = []
    placed: set[str] = set()

    def place(entry: PersonEntry) -> None:
        if entry.username in placed:
            return
        placed.add(entry.username)
        boss = entries.get(entry.manager or "")
        if boss is not None:
            place(boss)
        ordered.append(entry)

    for entry in entries.values():
        place(entry)
    return ordered


def _plan_people(plan: Plan, entries: dict[str, PersonEntry], known: dict[str, Person]) -> None:
    for entry in _person_order(entries):
        wanted = {
            "name": entry.name,
            "email": entry.email,
            "title": entry.title,
            "department": entry.department,
        }
        person = known.get(entry.username)
        if person is None:
            plan.add(
                "people created",
                f"create person {entry.username} ({entry.name or 'no name'})"
                + (f", reporting to {entry.manager}" if entry.manager else "")
                + ("" if entry.active else ", inactive"),
                _create_person(entry, wanted),
            )
            continue
        diffs = [
            f"{key} {getattr(person, key)!r} -> {value!r}"
            for key, value in wanted.items()
            if getattr(person, key) != value
        ]
        old_boss = person.manager.username if person.manager else None
        if old_boss != entry.manager:
            diffs.append(f"manager {old_boss or 'none'} -> {entry.manager or 'none'}")
        reactivate = entry.active and not person.is_active
        if reactivate:
            diffs.append("active again")
        if diffs:
            plan.add(
                "people updated",
                f"update person {entry.username}: {'; '.join(diffs)}",
                _update_person(entry, wanted, reactivate),
            )
        if person.is_active and not entry.active:
            plan.add(
                "people deactivated",
                f"deactivate person {entry.username} (their open tasks go to their manager)",
                _deactivate_person(entry.username),
            )


def _create_person(entry: PersonEntry, wanted: dict[str, str]) -> Step:
    def step(ctx: _Context) -> None:
        person = Person(username=entry.username, is_active=entry.active, **wanted)
        person.manager = ctx.people[entry.manager] if entry.manager else None
        person.set_unusable_password()  # people sign in through SSO or a reset link
        _save(person, ctx.actor)
        ctx.people[entry.username] = person

    return step


def _update_person(entry: PersonEntry, wanted: dict[str, str], reactivate: bool) -> Step:
    def step(ctx: _Context) -> None:
        person = ctx.people[entry.username]
        for key, value in wanted.items():
            setattr(person, key, value)
        person.manager = ctx.people[entry.manager] if entry.manager else None
        if reactivate:
            person.is_active = True
        _save(person, ctx.actor)

    return step


def _deactivate_person(username: str) -> Step:
    def step(ctx: _Context) -> None:
        person_deactivate(person=ctx.people[username], actor=ctx.actor)

    return step


def _plan_roles(
    plan: Plan, org: OrgFile, entries: dict[str, PersonEntry], known: dict[str, Person]
) -> None:
    wanted: dict[str, set[str] | None] = {r.name: set(r.members) for r in org.roles}
    for entry in entries.values():
        for name in entry.roles or []:
            wanted.setdefault(name, None)
    roles = {r.name: r for r in Role.objects.filter(name__in=wanted).prefetch_related("members")}
    for name in sorted(wanted):
        if name not in roles:
            plan.add("roles created", f"create role {name}", _create_role(name))
    for role_entry in org.roles:
        role = roles.get(role_entry.name)
        have = {p.username for p in role.members.all()} if role else set()
        for username in sorted(set(role_entry.members) - have):
            plan.add(
                "members added",
                f"add {username} to role {role_entry.name}",
                _add_member(role_entry.name, username),
            )
        for username in sorted(have - set(role_entry.members)):
            plan.add(
                "members removed",
                f"remove {username} from role {role_entry.name}",
                _remove_member(role_entry.name, username),
            )
    listed_roles = {r.name for r in org.roles}
    for entry in entries.values():  # CSV: each person's roles, exactly
        if entry.roles is None:
            continue
        person = known.get(entry.username)
        have = {r.name for r in person.roles.all()} if person else set()
        for name in sorted(set(entry.roles) - have):
            if name not in listed_roles:
                plan.add(
                    "members added",
                    f"add {entry.username} to role {name}",
                    _add_member(name, entry.username),
                )
        for name in sorted(have - set(entry.roles)):
            if name not in listed_roles:
                plan.add(
                    "members removed",
                    f"remove {entry.username} from role {name}",
                    _remove_member(name, entry.username),
                )


def _create_role(name: str) -> Step:
    def step(ctx: _Context) -> None:
        _save(Role(name=name), ctx.actor)

    return step


def _add_member(role: str, username: str) -> Step:
    def step(ctx: _Context) -> None:
        membership = RoleMembership(role=Role.objects.get(name=role), person=ctx.people[username])
        _save(membership, ctx.actor)

    return step


def _remove_member(role: str, username: str) -> Step:
    def step(ctx: _Context) -> None:
        for membership in RoleMembership.objects.filter(role__name=role, person__username=username):
            membership._history_user = ctx.actor
            membership.delete()

    return step


def _plan_absences(
    plan: Plan,
    absences: list[AbsenceEntry],
    entries: dict[str, PersonEntry],
    known: dict[str, Person],
) -> None:
    stored = {
        (a.person.username, a.start): a
        for a in Absence.objects.filter(
            person__username__in={e.person for e in absences}
        ).select_related("person", "delegate")
    }
    for entry in absences:
        window = f"{entry.person} {_day(entry.start)} to {_day(entry.end)}"
        current = stored.get((entry.person, entry.start))
        delegate_gone = entry.delegate and not (
            entries[entry.delegate].active
            if entry.delegate in entries
            else known[entry.delegate].is_active
        )
        if current is None:
            if delegate_gone:
                raise OrgChartError(
                    "the org file has a problem",
                    faults=[
                        OrgFault(f"delegate {entry.delegate!r} has left", entry.line, entry.where)
                    ],
                )
            plan.add(
                "absences created",
                f"create absence {window}, delegate {entry.delegate or 'none'}",
                _write_absence(entry, None),
            )
            continue
        diffs = []
        if current.end != entry.end:
            diffs.append(f"end {_day(current.end)} -> {_day(entry.end)}")
        old_delegate = current.delegate.username if current.delegate else None
        if old_delegate != entry.delegate:
            diffs.append(f"delegate {old_delegate or 'none'} -> {entry.delegate or 'none'}")
        for key in ("workflows", "move_open_tasks", "note"):
            if getattr(current, key) != getattr(entry, key):
                diffs.append(f"{key} {getattr(current, key)!r} -> {getattr(entry, key)!r}")
        if diffs:
            if delegate_gone:
                raise OrgChartError(
                    "the org file has a problem",
                    faults=[
                        OrgFault(f"delegate {entry.delegate!r} has left", entry.line, entry.where)
                    ],
                )
            plan.add(
                "absences updated",
                f"update absence {window}: {'; '.join(diffs)}",
                _write_absence(entry, current.pk),
            )


def _write_absence(entry: AbsenceEntry, pk: int | None) -> Step:
    def step(ctx: _Context) -> None:
        absence = Absence.objects.get(pk=pk) if pk else Absence(person=ctx.people[entry.person])
        absence.start = entry.start
        absence.end = entry.end
        absence.delegate = ctx.people[entry.delegate] if entry.delegate else None
        absence.workflows = entry.workflows
        absence.move_open_tasks = entry.move_open_tasks
        absence.note = entry.note
        _save(absence, ctx.actor)

    return step


def apply_plan(plan: Plan, *, actor: Person | None = None) -> None:
    """Write the planned changes, in order (people, managers first; roles; absences).
    The caller holds the transaction."""
    if not plan.steps:
        return
    ctx = _Context(
        people={p.username: p for p in Person.objects.filter(username__in=plan.usernames)},
        actor=actor,
    )
    for step in plan.steps:
        step(ctx)
