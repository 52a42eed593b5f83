"""Moving a request through its steps: plan, open, advance by quorum, finish, hand over."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from approvals.choices import RequestState, TaskState
from approvals.errors import Conflict
from approvals.models import Request, Task
from approvals.notifications.notify import notify
from approvals.planning import (
    check_when,
    new_task,
    next_rung,
    quorum_state,
    route_step,
    rungs_for,
)
from approvals.recipes import (
    Recipe,
    Step,
)
from approvals.services._common import (
    close_open_tasks,
    log_event,
    task_info,
)
from approvals.services._round import round_tasks
from audit.services import SYSTEM, Actor
from config.saving import insert, save_fields
from orgchart.models import Person


def plan_from(request: Request, recipe: Recipe, start: int, *, now: datetime) -> None:
    """Run the steps from ``start``: skip those whose ``when`` is false, finish on an
    action step, open the tasks of the first approval or parallel step. With no
    step left the request is approved."""
    for index in range(start, len(recipe.steps)):
        step = recipe.steps[index]
        result = check_when(step, recipe=recipe, request=request, now=now)
        if not result.value:
            log_event(
                request,
                "step_skipped",
                SYSTEM,
                step=step.id,
                when=step.when,
                seen=result.seen,
                error=result.error,
            )
            continue
        if step.kind == "action":
            finish(
                request,
                approved=step.action == "approve",
                actor=SYSTEM,
                now=now,
                rule={
                    "step": step.id,
                    "action": step.action,
                    "when": step.when,
                    "seen": result.seen,
                },
            )
            return
        open_step(request, recipe, step, now=now, seen=result.seen)
        return
    finish(request, approved=True, actor=SYSTEM, now=now, rule={"reason": "no step left"})


def open_step(
    request: Request, recipe: Recipe, step: Step, *, now: datetime, seen: dict[str, Any]
) -> None:
    routed = route_step(step, recipe=recipe, requester=request.requester, inputs=request.inputs)
    if request.state == RequestState.CREATED:
        request.start()
    request.current_step = step.id
    request.step_started_at = now
    save_fields(request, "state", "current_step", "step_started_at", "updated_at")
    log_event(
        request,
        "step_started",
        SYSTEM,
        step=step.id,
        kind=step.kind,
        quorum=str(step.quorum),
        when=step.when,
        seen=seen,
        tasks=len(routed),
    )
    rungs = rungs_for(step.sla, now)
    for item in routed:
        task = new_task(request=request, step=step, routed=item, rungs=rungs)
        if item.fallback:
            log_event(
                request, "routing_fallback", SYSTEM, **task_info(task), fallback=item.fallback
            )
        log_event(
            request,
            "task_assigned",
            SYSTEM,
            **task_info(task),
            notes=list(item.assignment.notes),
        )
        notify(kind="task_assigned", request=request, task=task, recipients=[task.assignee])


def finish(
    request: Request, *, approved: bool, actor: Actor, now: datetime, rule: dict[str, Any]
) -> None:
    cancelled = close_open_tasks(request, now=now)
    request.approve() if approved else request.reject()
    request.current_step = ""
    request.decided_at = now
    save_fields(request, "state", "current_step", "decided_at", "updated_at")
    log_event(
        request,
        "request_approved" if approved else "request_rejected",
        actor,
        cancelled_tasks=cancelled,
        **rule,
    )
    notify(kind="request_finished", request=request, recipients=[request.requester])


def advance(request: Request, task: Task, *, now: datetime, actor: Actor) -> None:
    """After a decision: send back, or apply the step's quorum and move on."""
    recipe = request.workflow_version.recipe
    step = recipe.step(task.step_id)
    if task.state == TaskState.CHANGES_REQUESTED:
        cancelled = close_open_tasks(request, now=now)
        request.send_back()
        request.current_step = ""
        save_fields(request, "state", "current_step", "updated_at")
        log_event(
            request,
            "changes_requested",
            actor,
            step=task.step_id,
            task=task.pk,
            cancelled_tasks=cancelled,
        )
        notify(kind="changes_requested", request=request, task=task, recipients=[request.requester])
        return
    if step is None:  # a version is immutable, so this would be data corruption
        raise Conflict(f"Step {task.step_id!r} is not in this workflow version.")
    state = quorum_state(
        request, step, [t.state for t in round_tasks(request) if t.step == step.id]
    )
    if state.outcome is None:
        return
    cancelled = close_open_tasks(request, now=now, step_id=step.id)
    log_event(
        request,
        "step_closed",
        SYSTEM,
        step=step.id,
        outcome=state.outcome,
        quorum=str(step.quorum),
        tasks=state.n,
        needed=state.needed,
        approved=state.approved,
        rejected=state.rejected,
        cancelled_tasks=cancelled,
    )
    if state.outcome == "rejected":
        finish(
            request,
            approved=False,
            actor=SYSTEM,
            now=now,
            rule={"step": step.id, "reason": "quorum can no longer be reached"},
        )
    else:
        plan_from(request, recipe, recipe.step_index(step.id) + 1, now=now)


def hand_over(
    request: Request,
    task: Task,
    *,
    to: Person,
    now: datetime,
    state_change: Any,
    notes: list[str],
    keep_rungs: bool = True,
) -> Task:
    """Close ``task`` with ``state_change`` and open its replacement for ``to``, on
    behalf of the person the task was meant for. The step's clock does not restart."""
    state_change(task)
    task.decided_at = now
    task.sla_next_at = None
    save_fields(task, "state", "decided_at", "sla_next_at")
    new = replacement(request, task, to=to, notes=notes, keep_rungs=keep_rungs)
    insert(new)
    notify(kind="task_assigned", request=request, task=new, recipients=[to])
    return new


def replacement(
    request: Request, task: Task, *, to: Person, notes: list[str], keep_rungs: bool = True
) -> Task:
    """The task (unsaved) that takes ``task`` over for ``to``, on behalf of the person
    it was meant for; the SLA sweep's batches build it here too, so an escalation
    reads the same whichever path made it."""
    meant = task.on_behalf_of or task.assignee
    chain = list(task.delegation_chain or [task.assignee.username])
    new = Task(
        request=request,
        step_id=task.step_id,
        round=task.round,
        assignee=to,
        on_behalf_of=meant if meant.pk != to.pk else None,
        delegation_chain=[*chain, to.username] if meant.pk != to.pk else [],
        resolution={"notes": notes},
        role=task.role,
        replaces=task,
        due_at=task.due_at,
        auto_action_at=task.auto_action_at,
    )
    if keep_rungs:
        new.remind_at = task.remind_at
        new.reminded_at = task.reminded_at
        new.escalate_at = task.escalate_at
    new.sla_next_at = next_rung(new)
    return new
