"""The system acts: reminders, escalations, automatic decisions, expiry, reassignment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from approvals.choices import RequestState
from approvals.errors import InvalidInput
from approvals.models import Request, Task
from approvals.notifications.notify import notify
from approvals.planning import (
    next_rung,
    route,
)
from approvals.recipes import (
    ApproverRef,
)
from approvals.services._common import (
    SLA_ACTOR,
    close_open_tasks,
    lock_request,
    log_event,
    open_pair,
    task_info,
)
from approvals.services.flow import advance, hand_over
from audit.services import SYSTEM
from orgchart.models import Person


def _escalate(request: Request, task: Task, *, now: datetime) -> Task:
    recipe = request.workflow_version.recipe
    step = recipe.step(task.step_id)
    ref = (step.sla.escalate_to if step and step.sla else None) or ApproverRef(
        kind="approver_manager", raw="{{ approver.manager }}", depth=1
    )
    target = route(
        ref,
        recipe=recipe,
        requester=request.requester,
        inputs=request.inputs,
        approver=task.assignee,
    )[0]
    new = hand_over(
        request,
        task,
        to=target.assignment.assignee,
        now=now,
        state_change=Task.escalate,
        notes=[
            f"escalated from {task.assignee.username} at {now:%Y-%m-%d %H:%M}",
            *target.assignment.notes,
        ],
        keep_rungs=False,
    )
    log_event(
        request,
        "task_escalated",
        SLA_ACTOR,
        from_task=task.pk,
        reference=ref.raw,
        fallback=target.fallback,
        **task_info(new),
    )
    notify(
        kind="task_escalated", request=request, task=new, recipients=[new.assignee, task.assignee]
    )
    return new


def _remind(request: Request, task: Task, *, now: datetime) -> None:
    task.reminded_at = now
    task.sla_next_at = next_rung(task)
    task.save(update_fields=["reminded_at", "sla_next_at"])
    log_event(request, "reminder_sent", SLA_ACTOR, **task_info(task))
    notify(kind="task_reminder", request=request, task=task, recipients=[task.assignee])


def _auto_decide(request: Request, task: Task, *, decision: str, now: datetime, rule: str) -> None:
    (Task.approve if decision == "approve" else Task.reject)(task)
    task.decided_at = now
    task.sla_next_at = None
    task.save(update_fields=["state", "decided_at", "sla_next_at"])
    log_event(
        request,
        "task_decided",
        SLA_ACTOR,
        **task_info(task),
        decision=decision,
        rule=rule,
        automatic=True,
    )
    advance(request, task, now=now, actor=SLA_ACTOR)


def _expire(request: Request, *, now: datetime, rule: str) -> None:
    expired = close_open_tasks(request, now=now, expire=True)
    request.expire()
    request.current_step = ""
    request.decided_at = now
    request.save(update_fields=["state", "current_step", "decided_at", "updated_at"])
    log_event(request, "request_expired", SLA_ACTOR, rule=rule, expired_tasks=expired)
    notify(kind="request_finished", request=request, recipients=[request.requester])


def escalate(*, task_id: int, at: datetime | None = None) -> Task | None:
    """SLA: reassign an open task to its escalation target, on behalf of the original
    approver; the original stays in the record as ``escalated``. None if closed."""
    with transaction.atomic():
        pair = open_pair(task_id)
        return _escalate(*pair, now=at or timezone.now()) if pair else None


def remind(*, task_id: int, at: datetime | None = None) -> Task | None:
    """SLA: send the assignee a reminder, once."""
    with transaction.atomic():
        pair = open_pair(task_id)
        if pair is None or pair[1].reminded_at is not None:
            return None
        _remind(*pair, now=at or timezone.now())
        return pair[1]


def auto_decide(
    *, task_id: int, decision: str, rule: str, at: datetime | None = None
) -> Task | None:
    """SLA: the system decides a task (auto_action approve / reject)."""
    if decision not in ("approve", "reject"):
        raise InvalidInput("An automatic decision is approve or reject.")
    with transaction.atomic():
        pair = open_pair(task_id)
        if pair is None:
            return None
        _auto_decide(*pair, decision=decision, now=at or timezone.now(), rule=rule)
        return pair[1]


def expire(*, request_id: int, at: datetime | None = None, rule: str = "expired") -> Request | None:
    """SLA: expire a pending request; its open tasks expire with it."""
    with transaction.atomic():
        request = lock_request(request_id)
        if request.state != RequestState.PENDING:
            return None
        _expire(request, now=at or timezone.now(), rule=rule)
        return request


def sla_act(*, task_id: int, now: datetime) -> list[str]:
    """SLA: act on the rungs of this open task that are due at ``now``, once each, and
    move ``sla_next_at`` on. The most severe due rung wins (auto action, then
    escalation, then the reminder). Idempotent: a second call finds nothing due."""
    with transaction.atomic():
        pair = open_pair(task_id)
        if pair is None:
            return []
        request, task = pair
        step = request.workflow_version.recipe.step(task.step_id)
        sla = step.sla if step else None
        if task.auto_action_at and task.auto_action_at <= now and sla and sla.auto_action:
            rule = (
                f"steps.{task.step_id}.sla: auto_action {sla.auto_action} "
                f"at {task.auto_action_at:%Y-%m-%d %H:%M}"
            )
            if sla.auto_action == "expire":
                _expire(request, now=now, rule=rule)
                return ["expired"]
            _auto_decide(request, task, decision=sla.auto_action, now=now, rule=rule)
            return [f"auto_{sla.auto_action}"]
        if task.escalate_at and task.escalate_at <= now:
            _escalate(request, task, now=now)
            return ["escalated"]
        if task.remind_at and task.remind_at <= now and task.reminded_at is None:
            _remind(request, task, now=now)
            return ["reminded"]
        # Nothing due (another sweeper acted first): just make the next rung right.
        if task.sla_next_at != next_rung(task):
            task.sla_next_at = next_rung(task)
            task.save(update_fields=["sla_next_at"])
        return []


def reassign_open_tasks(
    *,
    from_person: Person,
    reason: str,
    to: Person | None = None,
    workflow_keys: list[str] | None = None,
) -> list[Task]:
    """Move every open task of a person who can no longer act: to ``to`` (an absence's
    delegate) or, by default, through resolution of that person (their manager when
    they left, their delegate when away). Audited per task, request by request."""
    moved: list[Task] = []
    tasks = Task.objects.open().filter(assignee=from_person)
    if workflow_keys:
        tasks = tasks.filter(request__workflow__key__in=workflow_keys)
    task_ids = list(tasks.values_list("pk", flat=True))
    for task_id in task_ids:
        with transaction.atomic():
            pair = open_pair(task_id)
            if pair is None or pair[1].assignee_id != from_person.pk:
                continue
            request, task = pair
            recipe = request.workflow_version.recipe
            target = to or from_person
            ref = ApproverRef(kind="user", raw=f"user:{target.username}", value=target.username)
            routed = route(ref, recipe=recipe, requester=request.requester, inputs=request.inputs)[
                0
            ]
            if routed.assignment.assignee.pk == task.assignee_id:
                continue
            new = hand_over(
                request,
                task,
                to=routed.assignment.assignee,
                now=timezone.now(),
                state_change=Task.hand_over,
                notes=[reason, *routed.assignment.notes],
            )
            log_event(
                request,
                "task_reassigned",
                SYSTEM,
                from_task=task.pk,
                reason=reason,
                fallback=routed.fallback,
                **task_info(new),
            )
            moved.append(new)
    return moved


def move_tasks_of_started_absences(*, now: datetime | None = None) -> int:
    """Absences that move open tasks and have started: their owners' open tasks go to
    the delegate (following the delegate's own absences), once per absence. The
    claim and the moves commit together, so a failure is retried by the next sweep."""
    from orgchart.selectors import absences_starting
    from orgchart.services import absence_claim_task_move

    now = now or timezone.now()
    moved = 0
    due = absences_starting(now).select_related("person", "delegate")
    for absence in due:
        with transaction.atomic():
            if not absence_claim_task_move(absence_id=absence.pk, at=now):
                continue
            moved += len(
                reassign_open_tasks(
                    from_person=absence.person,
                    to=absence.delegate,
                    workflow_keys=list(absence.workflows or []),
                    reason=(
                        f"{absence.person.username} is away until "
                        f"{timezone.localtime(absence.end):%Y-%m-%d}; open tasks move to "
                        f"{absence.delegate.username if absence.delegate else 'their manager'}"
                    ),
                )
            )
    return moved


def on_person_deactivated(sender: Any, *, person: Person, **_: Any) -> None:
    """orgchart.signals.person_deactivated: inside the deactivation's transaction, move
    the person's open tasks (resolution sends them to the manager)."""
    reassign_open_tasks(from_person=person, reason=f"{person.username} has left")
