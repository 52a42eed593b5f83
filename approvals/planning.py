"""Planning steps: conditions, approver resolution, tasks, SLA clocks and quorum.

The services call these inside their transaction, with the request row locked.
``simulate`` runs the same evaluation and resolution without writing anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from approvals.choices import TaskState
from approvals.errors import InvalidInput, NotFound
from approvals.models import REPLACED_TASK_STATES, Request, Task, Workflow
from approvals.recipes import (
    SLA,
    ApproverRef,
    Recipe,
    Step,
    WhenResult,
    evaluate_when,
    reads_requester,
)
from config.saving import insert
from orgchart.chart import Chart
from orgchart.models import Person
from orgchart.resolution import Assignment, ResolutionError, resolve, resolve_fallback


def requester_context(person: Person) -> dict[str, Any]:
    """The ``requester`` map that ``when`` conditions see."""
    return {
        "username": person.username,
        "department": person.department,
        "title": person.title,
        "roles": sorted(person.roles.values_list("name", flat=True)),
    }


def check_when(step: Step, *, recipe: Recipe, request: Request, now: datetime) -> WhenResult:
    # The requester's roles cost a query: only a ``when`` that reads them needs them.
    requester = requester_context(request.requester) if reads_requester(step) else {}
    return evaluate_when(
        step, recipe=recipe, inputs=request.inputs, requester=requester, now=now
    )


@dataclass
class Routed:
    """An assignment, with the resolution error that sent it to the fallback role, if any."""

    assignment: Assignment
    fallback: dict[str, Any] | None = None

    def resolution_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"notes": list(self.assignment.notes)}
        if self.fallback:
            record["fallback"] = self.fallback
        return record


def route(
    ref: ApproverRef,
    *,
    recipe: Recipe,
    requester: Person,
    inputs: dict[str, Any],
    approver: Person | None = None,
    every_member: bool = False,
    at: datetime | None = None,
    advance: bool = True,
    chart: Chart | None = None,
) -> list[Routed]:
    """Resolve one reference; a cycle, a chain too deep or nobody at all goes to the
    workflow's fallback role, recorded, so a request never stalls silently.
    ``chart``: an org chart shared with other routings (``orgchart.chart.chart_for``)."""
    try:
        found = resolve(
            ref,
            requester=requester,
            inputs=inputs,
            approver=approver,
            every_member=every_member,
            workflow_key=recipe.workflow,
            at=at,
            advance=advance,
            chart=chart,
        )
        if found:
            return [Routed(a) for a in found]
        error: ResolutionError = ResolutionError(f"{ref.raw} resolved to nobody")
        error.code = "no_approver"
    except ResolutionError as exc:
        error = exc
    try:
        fallback = resolve_fallback(
            recipe.fallback_role,
            requester=requester,
            workflow_key=recipe.workflow,
            at=at,
            advance=advance,
            chart=chart,
        )
    except ResolutionError as exc:
        raise InvalidInput(
            f"Nobody can approve {ref.raw!r} ({error}), and the fallback role "
            f"{recipe.fallback_role!r} has nobody who can act ({exc}).",
            code="no_approver",
        ) from exc
    return [
        Routed(
            fallback,
            fallback={
                "error": error.code,
                "message": str(error),
                "reference": ref.raw,
                "chain": list(error.chain),
                "role": recipe.fallback_role,
            },
        )
    ]


def route_step(
    step: Step,
    *,
    recipe: Recipe,
    requester: Person,
    inputs: dict[str, Any],
    at: datetime | None = None,
    advance: bool = True,
) -> list[Routed]:
    """One Routed per task the step opens: a branch each, or every member of a role."""
    if step.approvers is not None:
        return route(
            step.approvers,
            recipe=recipe,
            requester=requester,
            inputs=inputs,
            every_member=True,
            at=at,
            advance=advance,
        )
    routed: list[Routed] = []
    for ref in step.branches:
        routed.extend(
            route(ref, recipe=recipe, requester=requester, inputs=inputs, at=at, advance=advance)
        )
    return routed


@dataclass(frozen=True)
class Rungs:
    due_at: datetime | None = None
    remind_at: datetime | None = None
    escalate_at: datetime | None = None
    auto_action_at: datetime | None = None

    @property
    def next_at(self) -> datetime | None:
        times = [t for t in (self.remind_at, self.escalate_at, self.auto_action_at) if t]
        return min(times) if times else None


def rungs_for(sla: SLA | None, started: datetime) -> Rungs:
    """Absolute SLA times for a step whose clock started at ``started``."""
    if sla is None:
        return Rungs()

    def at(share: float | None) -> datetime | None:
        offset = sla.offset(share)
        return None if offset is None else started + offset

    return Rungs(
        due_at=started + sla.due,
        remind_at=at(sla.remind_at),
        escalate_at=at(sla.escalate_at),
        auto_action_at=at(sla.auto_action_at),
    )


def apply_rungs(task: Task, rungs: Rungs) -> None:
    task.due_at = rungs.due_at
    task.remind_at = rungs.remind_at
    task.escalate_at = rungs.escalate_at
    task.auto_action_at = rungs.auto_action_at
    task.sla_next_at = rungs.next_at


def next_rung(task: Task) -> datetime | None:
    """The earliest rung of an open task not yet acted on."""
    pending = []
    if task.remind_at and task.reminded_at is None:
        pending.append(task.remind_at)
    if task.escalate_at:
        pending.append(task.escalate_at)
    if task.auto_action_at:
        pending.append(task.auto_action_at)
    return min(pending) if pending else None


def new_task(
    *,
    request: Request,
    step: Step,
    routed: Routed,
    rungs: Rungs,
    replaces: Task | None = None,
) -> Task:
    a = routed.assignment
    task = Task(
        request=request,
        step_id=step.id,
        round=request.round,
        assignee=a.assignee,
        on_behalf_of=a.on_behalf_of,
        delegation_chain=list(a.chain) if len(a.chain) > 1 else [],
        resolution=routed.resolution_record(),
        role=a.role or "",
        replaces=replaces,
    )
    apply_rungs(task, rungs)
    insert(task)
    return task


# --- quorum ---------------------------------------------------------------------


@dataclass(frozen=True)
class QuorumState:
    n: int
    needed: int
    approved: int
    rejected: int

    @property
    def outcome(self) -> str | None:
        """"approved" as soon as q tasks approve, "rejected" as soon as more than
        n - q reject (the quorum can no longer be reached), else None."""
        if self.approved >= self.needed:
            return "approved"
        if self.rejected > self.n - self.needed:
            return "rejected"
        return None


def quorum_state(
    request: Request, step: Step, states: Iterable[str] | None = None
) -> QuorumState:
    """The quorum of ``step`` in the request's current round. ``states`` are the states
    of that step's tasks when the caller already has them (else they are read)."""
    if states is None:
        states = Task.objects.of_step(request, step.id).values_list("state", flat=True)
    counted = [s for s in states if s not in REPLACED_TASK_STATES]
    n = len(counted)
    return QuorumState(
        n=n,
        needed=step.quorum.needed(n),
        approved=sum(1 for s in counted if s == TaskState.APPROVED),
        rejected=sum(1 for s in counted if s == TaskState.REJECTED),
    )


# --- simulate -------------------------------------------------------------------


@dataclass
class PlannedStep:
    id: str
    kind: str
    skipped: bool
    reason: str = ""
    action: str | None = None
    quorum: str | None = None
    assignees: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "skipped": self.skipped,
            "reason": self.reason,
            "action": self.action,
            "quorum": self.quorum,
            "assignees": self.assignees,
        }


def simulate(
    *,
    workflow_key: str,
    requester: Person,
    inputs: dict[str, Any],
    at: datetime | None = None,
) -> dict[str, Any]:
    """Who would approve this request, from this requester, with these inputs, at
    time ``at``? Every step is evaluated as if each earlier approval step approved.
    Nothing is written (round-robin positions are peeked, not advanced)."""
    from approvals.recipes import InputError, clean_inputs

    workflow = (
        Workflow.objects.select_related("latest_version").filter(key=workflow_key).first()
    )
    if workflow is None or workflow.latest_version is None:
        raise NotFound(f"No published workflow {workflow_key!r}.")
    version = workflow.latest_version
    recipe = version.recipe
    try:
        cleaned = clean_inputs(recipe, inputs)
    except InputError as exc:
        raise InvalidInput(str(exc), faults=exc.faults) from exc
    moment = at or timezone.now()
    context = requester_context(requester)
    steps: list[PlannedStep] = []
    for step in recipe.steps:
        result = evaluate_when(step, recipe=recipe, inputs=cleaned, requester=context, now=moment)
        planned = PlannedStep(id=step.id, kind=step.kind, skipped=not result.value)
        if not result.value:
            planned.reason = (
                f"when {step.when!r} failed: {result.error}"
                if result.error
                else f"when {step.when!r} is false with {result.seen}"
            )
            steps.append(planned)
            continue
        if step.kind == "action":
            planned.action = step.action
            planned.reason = f"finishes the request: {step.action}"
            steps.append(planned)
            break
        planned.quorum = str(step.quorum)
        for routed in route_step(
            step, recipe=recipe, requester=requester, inputs=cleaned, at=at, advance=False
        ):
            a = routed.assignment
            planned.assignees.append(
                {
                    "username": a.assignee.username,
                    "name": a.assignee.display_name,
                    "on_behalf_of": a.on_behalf_of.username if a.on_behalf_of else None,
                    "chain": list(a.chain),
                    "role": a.role,
                    "notes": list(a.notes),
                    "fallback": routed.fallback,
                }
            )
        steps.append(planned)
    return {
        "workflow": workflow.key,
        "version": version.number,
        "requester": requester.username,
        "at": moment.isoformat(),
        "inputs": cleaned,
        "steps": [s.as_dict() for s in steps],
    }
