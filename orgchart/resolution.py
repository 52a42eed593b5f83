"""Approver resolution: from a reference in a recipe to the people who act.

The rules (RECIPES.md, "Approver references"), applied to every person a
reference names, in this order, each substitution recorded in the chain and
the notes of the returned ``Assignment``:

1. The requester never approves their own request: they are replaced by their
   manager. A role member equal to the requester is skipped instead, unless the
   requester is the only member.
2. A person who has left (inactive) is replaced by their manager, repeatedly.
3. A person out of office with a delegate (for this workflow) is replaced by the
   delegate, following the chain while delegates are away too: at most
   ``MAX_DELEGATION_HOPS`` hops (``DelegationTooDeep`` beyond); a person already
   in the chain is a cycle (``DelegationCycle``).

Rules 1 and 2 are checked again for every substitute. When a delegate turns out
to be the requester (Bob is away and hands his work to Alice, who asks for
something Bob must approve), Alice is passed over and the work goes up the
*requester's* manager line, skipping everyone already in the chain: those
people were passed over because they are away, gone, or the requester. So Bob's
manager acts, on behalf of Bob. This always ends: every substitute is someone
not yet in the chain, or an error.

``at`` resolves as of a past time from the django-simple-history tables (the
manager, activity, role memberships and absences as they were then). Without
``at`` the current tables are read, a handful of queries per resolution: one
for the person, one per manager step, one for the absences of everyone at a
step (batched for a role's members) and the round-robin cursor. Many
resolutions made together (the SLA sweep's escalations) share one chart read
in a few queries for all of them (``chart.chart_for``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from .chart import Chart
from .models import Person, Role, RoleCursor

logger = logging.getLogger(__name__)


class Reference(Protocol):
    """What a recipe's approver reference carries (approvals.recipes.ApproverRef)."""

    kind: str  # requester_manager | approver_manager | input | user | role
    value: str
    depth: int
    raw: str


@dataclass(frozen=True)
class Assignment:
    assignee: Person
    meant_for: Person
    chain: tuple[str, ...]  # usernames from meant_for to assignee
    role: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Display names along ``chain``, so ``describe`` needs no query.
    chain_names: tuple[str, ...] = field(default_factory=tuple)

    @property
    def on_behalf_of(self) -> Person | None:
        return None if self.meant_for.pk == self.assignee.pk else self.meant_for


class ResolutionError(Exception):
    code = "resolution_error"

    def __init__(self, message: str, *, chain: tuple[str, ...] = ()):
        self.chain = chain
        super().__init__(message)


class NoApprover(ResolutionError):
    code = "no_approver"


class DelegationCycle(ResolutionError):
    code = "delegation_cycle"


class DelegationTooDeep(ResolutionError):
    code = "delegation_too_deep"


def max_delegation_hops() -> int:
    return int(getattr(settings, "APPROVALS", {}).get("MAX_DELEGATION_HOPS", 5))


class _Resolver:
    """One resolution: the requester, the workflow and the chart it reads."""

    def __init__(
        self, *, requester: Person, workflow_key: str, at: datetime | None, chart: Chart | None
    ):
        self.chart = chart if chart is not None else Chart(at)
        self.workflow_key = workflow_key
        self.hops_allowed = max_delegation_hops()
        # The requester as the chart knew them, so "their manager" is the one of then.
        self.requester = self.chart.as_then(requester) or requester

    def settle(self, person: Person, *, role: str | None = None) -> Assignment:
        """Apply rules 1-3 to ``person`` (the one the reference meant)."""
        chain: list[Person] = [person]
        seen = {person.pk}
        notes: list[str] = []
        hops = 0

        def step(to: Person) -> None:
            chain.append(to)
            seen.add(to.pk)

        def usernames(*extra: Person) -> tuple[str, ...]:
            return tuple(p.username for p in [*chain, *extra])

        current = person
        while True:
            if current.pk == self.requester.pk:
                nxt = self._above_requester(seen, chain=usernames())
                notes.append(
                    f"{current.username} is the requester and may not approve their own "
                    f"request; {nxt.username} (their manager) acts"
                )
                step(nxt)
                current = nxt
                continue
            if not current.is_active:
                boss = self.chart.manager(current)
                if boss is None:
                    raise NoApprover(
                        f"{current.username} has left and has no manager to act for them",
                        chain=usernames(),
                    )
                if boss.pk in seen:
                    raise DelegationCycle(
                        f"{current.username} has left and their manager {boss.username} "
                        f"is already in the chain {' -> '.join(usernames(boss))}",
                        chain=usernames(boss),
                    )
                notes.append(f"{current.username} has left; their manager {boss.username} acts")
                step(boss)
                current = boss
                continue
            absence = self.chart.absence(current, self.workflow_key)
            delegate = self.chart.person(absence.delegate_id) if absence is not None else None
            if delegate is None:
                break
            until = timezone.localtime(absence.end).strftime("%Y-%m-%d %H:%M")
            if delegate.pk == self.requester.pk:
                nxt = self._above_requester(seen | {delegate.pk}, chain=usernames(delegate))
                notes.append(
                    f"{current.username} is away until {until}; their delegate "
                    f"{delegate.username} is the requester, so {nxt.username} "
                    f"(the requester's manager) acts"
                )
                step(nxt)
                current = nxt
                continue
            if delegate.pk in seen:
                raise DelegationCycle(
                    f"delegation cycle: {' -> '.join(usernames(delegate))}",
                    chain=usernames(delegate),
                )
            hops += 1
            if hops > self.hops_allowed:
                raise DelegationTooDeep(
                    f"delegation chain longer than {self.hops_allowed} hops: "
                    f"{' -> '.join(usernames(delegate))}",
                    chain=usernames(delegate),
                )
            notes.append(f"{current.username} is away until {until}; {delegate.username} acts")
            step(delegate)
            current = delegate
        return Assignment(
            assignee=current,
            meant_for=person,
            chain=usernames(),
            role=role,
            notes=tuple(notes),
            chain_names=tuple(p.display_name for p in chain),
        )

    def _above_requester(self, seen: set[int], *, chain: tuple[str, ...]) -> Person:
        """The first of the requester's managers (upwards) not already in the chain."""
        climbed: set[int] = {self.requester.pk}
        boss = self.chart.manager(self.requester)
        while boss is not None and boss.pk in seen:
            if boss.pk in climbed:  # a manager loop in hand-edited data
                break
            climbed.add(boss.pk)
            boss = self.chart.manager(boss)
        if boss is None or boss.pk in seen:
            raise NoApprover(
                f"the requester {self.requester.username} may not approve their own request "
                f"and has no manager who can act",
                chain=chain,
            )
        return boss

    # --- references -----------------------------------------------------------
    def climb(self, start: Person | None, depth: int, what: str) -> Person:
        person = self.chart.as_then(start) if start is not None else None
        for level in range(max(depth, 1)):
            if person is None:
                break
            boss = self.chart.manager(person)
            if boss is None:
                raise NoApprover(
                    f"{what}: {person.username} has no manager"
                    + (f" (level {level + 1})" if depth > 1 else ""),
                    chain=(person.username,),
                )
            person = boss
        if person is None:
            raise NoApprover(f"{what}: nobody to start from")
        return person

    def named(self, username: Any, what: str) -> Person:
        if not isinstance(username, str) or not username:
            raise NoApprover(f"{what}: no username given")
        person = self.chart.by_username(username)
        if person is None:
            raise NoApprover(f"{what}: nobody named {username!r} in the org chart")
        return person

    def role_members(self, name: str) -> tuple[Role, list[Person]]:
        role = self.chart.role(name)
        if role is None:
            raise NoApprover(f"no role named {name!r}")
        members = self.chart.members(role)
        if not members:
            raise NoApprover(f"role {name!r} has no members")
        return role, members

    def pick(self, role: Role, members: list[Person], *, advance: bool) -> Person:
        """Round robin over the members (by username), skipping the requester.

        Each pick takes the next position with one atomic statement (see
        ``take_positions``), so concurrent requests each get their own member.
        Members change rarely, so a position that moves on by one per pick stays fair.
        """
        count = len(members)
        if advance:
            position = take_positions(role.pk) - 1
        else:
            position = (
                RoleCursor.objects.filter(role_id=role.pk)
                .values_list("position", flat=True)
                .first()
            ) or 0
        for offset in range(count):
            member = members[(position + offset) % count]
            if member.pk != self.requester.pk:
                break
        else:  # only the requester: rule 1 sends it to their manager
            return members[0]
        if advance and offset:
            take_positions(role.pk, offset)  # the requester's turn is passed over
        return member


def take_positions(role_id: int, n: int = 1) -> int:
    """Move the role's round-robin cursor on by ``n`` and return where it ends.

    One ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (the first pick creates the
    row), on a connection of this thread's own that commits it at once: transactions
    picking from one role meet only for that statement instead of queueing behind
    each other's commit (the caller's transaction runs on for a while after the
    pick). A position taken by a transaction that then rolls back is a turn passed
    over, which round robin can afford. Where that connection cannot help, the
    statement runs in the caller's transaction and holds the row to its end: on
    SQLite (one writer at a time anyway), for a role the caller created and has not
    committed (invisible to other connections), or when that connection fails."""
    position = _own_connection.take(role_id, n)
    if position is None:
        with connection.cursor() as cursor:
            cursor.execute(_take_sql(connection), [n, role_id])
            position = cursor.fetchone()[0]
    return position


def _take_sql(conn: BaseDatabaseWrapper) -> str:
    """The cursor upsert; it inserts nothing (and returns no row) for a role this
    connection cannot see."""
    cursors, roles = RoleCursor._meta.db_table, Role._meta.db_table
    qn = conn.ops.quote_name
    # Only quoted names from the models and placeholders go into the text.
    return (
        f"INSERT INTO {qn(cursors)} ({qn('role_id')}, {qn('position')}) "  # noqa: S608
        f"SELECT {qn('id')}, %s FROM {qn(roles)} WHERE {qn('id')} = %s "
        f"ON CONFLICT ({qn('role_id')}) DO UPDATE "
        f"SET {qn('position')} = {qn(cursors)}.{qn('position')} + EXCLUDED.{qn('position')} "
        f"RETURNING {qn('position')}"
    )


class _OwnConnection(threading.local):
    """This thread's second connection to the database (PostgreSQL), in autocommit,
    used only to move round-robin cursors. Made at first use, dropped on any error
    (the pick then happens in the caller's transaction)."""

    wrapper: BaseDatabaseWrapper | None = None
    pid = 0

    def take(self, role_id: int, n: int) -> int | None:
        if connection.vendor != "postgresql":
            return None
        try:
            own = self._connect()
            with own.cursor() as cursor:
                cursor.execute(_take_sql(own), [n, role_id])
                row = cursor.fetchone()
        except DatabaseError as exc:
            logger.warning("round robin: own connection failed (%s); picking in-transaction", exc)
            self.close()
            return None
        return row[0] if row else None

    def _connect(self) -> BaseDatabaseWrapper:
        if self.wrapper is None or self.pid != os.getpid():
            # After a fork the inherited connection belongs to the parent: left alone.
            self.wrapper = connections.create_connection(connection.alias)
            self.pid = os.getpid()
            _own_wrappers.add(self.wrapper)
            with self.wrapper.cursor() as cursor:
                # Its only wait is another pick's one-statement transaction; a longer
                # one means the caller's transaction holds the row (it picked there
                # before): give up and pick in-transaction.
                cursor.execute("SET lock_timeout = '2s'")
        return self.wrapper

    def close(self) -> None:
        wrapper, self.wrapper = self.wrapper, None
        if wrapper is not None and self.pid == os.getpid():
            with contextlib.suppress(DatabaseError):
                wrapper.close()


_own_connection = _OwnConnection()
_own_wrappers: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()


def close_own_connections() -> None:
    """Close the round-robin connections of every thread of this process (tests do,
    before the test database is dropped). A thread makes a new one when it next picks."""
    for wrapper in list(_own_wrappers):
        wrapper.inc_thread_sharing()
        try:
            with contextlib.suppress(DatabaseError):
                wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


def resolve(
    ref: Reference,
    *,
    requester: Person,
    inputs: Mapping[str, Any] | None = None,
    approver: Person | None = None,
    every_member: bool = False,
    workflow_key: str = "",
    at: datetime | None = None,
    advance: bool = True,
    chart: Chart | None = None,
) -> list[Assignment]:
    """Resolve one approver reference into assignments (one, or one per role
    member with ``every_member``). Raises ``NoApprover``, ``DelegationCycle`` or
    ``DelegationTooDeep``; the engine routes those to the fallback role.

    ``advance=False`` peeks at the round-robin cursor without moving it (simulate).
    ``chart``: the org chart to read, shared with other resolutions (``chart.chart_for``),
    instead of one read for this resolution as of ``at``.
    """
    resolver = _Resolver(requester=requester, workflow_key=workflow_key, at=at, chart=chart)
    kind = ref.kind
    if kind == "requester_manager":
        person = resolver.climb(requester, ref.depth, ref.raw)
        return [resolver.settle(person)]
    if kind == "approver_manager":
        if approver is None:
            raise NoApprover(f"{ref.raw}: there is no approver to start from")
        person = resolver.climb(approver, ref.depth, ref.raw)
        return [resolver.settle(person)]
    if kind == "input":
        username = (inputs or {}).get(ref.value)
        return [resolver.settle(resolver.named(username, f"input {ref.value!r}"))]
    if kind == "user":
        return [resolver.settle(resolver.named(ref.value, ref.raw))]
    if kind == "role":
        role, members = resolver.role_members(ref.value)
        if not every_member:
            chosen = resolver.pick(role, members, advance=advance)
            return [resolver.settle(chosen, role=ref.value)]
        return _every_member(resolver, ref.value, members)
    raise NoApprover(f"unknown reference kind {kind!r} in {ref.raw!r}")


def _every_member(resolver: _Resolver, role: str, members: list[Person]) -> list[Assignment]:
    """One assignment per member (a parallel step's ``approvers: ROLE``). The
    requester is left out unless alone; two members landing on the same person
    (both away to one delegate) give that person one task, not two."""
    others = [m for m in members if m.pk != resolver.requester.pk] or members[:1]
    resolver.chart.prime(others, requesters={resolver.requester.pk})
    found: list[Assignment] = []
    taken: set[int] = set()
    for member in others:
        assignment = resolver.settle(member, role=role)
        if assignment.assignee.pk not in taken:
            taken.add(assignment.assignee.pk)
            found.append(assignment)
    return found


def resolve_fallback(
    role_name: str,
    *,
    requester: Person,
    workflow_key: str = "",
    at: datetime | None = None,
    advance: bool = True,
    chart: Chart | None = None,
) -> Assignment:
    """Somebody who can act when a reference could not be resolved.

    The fallback role's next member (round robin), with the rules applied; if
    that fails, its first active member who is not away with a delegate; with
    nobody there, the first active superuser. ``NoApprover`` if none exists.
    ``chart`` as for ``resolve``.
    """
    resolver = _Resolver(requester=requester, workflow_key=workflow_key, at=at, chart=chart)
    chart = resolver.chart
    try:
        role, members = resolver.role_members(role_name)
    except NoApprover as exc:
        role, members = None, []
        reason = f"fallback {exc}"
    if role is not None and members:
        # Every member's absences at once: the pick's are needed, and all of them
        # when it cannot act (and by the next fallback of a shared chart).
        chart.load_absences(members)
        chosen = resolver.pick(role, members, advance=advance)
        try:
            return resolver.settle(chosen, role=role_name)
        except ResolutionError as exc:
            reason = f"fallback role {role_name!r}: {exc}"
        for member in members:
            if (
                member.pk != resolver.requester.pk
                and member.is_active
                and chart.absence(member, workflow_key) is None
            ):
                return Assignment(
                    assignee=member,
                    meant_for=member,
                    chain=(member.username,),
                    role=role_name,
                    notes=(f"{reason}; {member.username} acts as the first available member",),
                    chain_names=(member.display_name,),
                )
    for admin in chart.superusers():
        if admin.pk != resolver.requester.pk:
            return Assignment(
                assignee=admin,
                meant_for=admin,
                chain=(admin.username,),
                role=None,
                notes=(f"{reason}; the administrator {admin.username} acts",),
                chain_names=(admin.display_name,),
            )
    raise NoApprover(f"{reason}, and there is no active administrator")


def describe(assignment: Assignment) -> str:
    """ "Dave, on behalf of Bob, via Carol": who acts, for whom, through whom."""
    names = list(assignment.chain_names)
    if len(names) != len(assignment.chain):
        by_username = dict(
            Person.objects.filter(username__in=assignment.chain).values_list("username", "name")
        )
        names = [by_username.get(u) or u for u in assignment.chain]
    if len(names) <= 1 or assignment.on_behalf_of is None:
        return assignment.assignee.display_name
    text = f"{names[-1]}, on behalf of {names[0]}"
    via = names[1:-1]
    if via:
        text += ", via " + (via[0] if len(via) == 1 else ", ".join(via[:-1]) + " and " + via[-1])
    return text
