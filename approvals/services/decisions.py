"""The approver's side: decide and delegate."""

from __future__ import annotations

from django.db import IntegrityError
from django.utils import timezone

from approvals.choices import DecisionKind, RequestState, TaskState, Via
from approvals.errors import Conflict, InvalidInput, NotAllowed
from approvals.models import Decision, Task
from approvals.recipes import (
    Fault,
)
from approvals.services._common import (
    actor_of,
    clean_comment,
    lock_task,
    log_event,
    service_transaction,
    task_info,
)
from approvals.services.flow import advance, hand_over
from config.saving import insert, save_fields
from orgchart.models import Person

_TRANSITIONS = {
    DecisionKind.APPROVE: Task.approve,
    DecisionKind.REJECT: Task.reject,
    DecisionKind.REQUEST_CHANGES: Task.request_changes,
}


def decide(
    *, task_id: int, actor: Person, decision: str, comment: str = "", via: str = Via.WEB
) -> Task:
    """Record the assignee's decision (approve / reject / request_changes) and move
    the request on. Conflict if the task is closed; NotAllowed if not the assignee.
    The unique constraint on the decision settles two clicks that race past the lock."""
    if decision not in DecisionKind.values:
        raise InvalidInput(
            f"decision must be one of {', '.join(DecisionKind.values)}.",
            code="invalid_decision",
            faults=[Fault("decision", "must be approve, reject or request_changes")],
        )
    comment = clean_comment(comment, required=decision != DecisionKind.APPROVE)
    with service_transaction():
        request, task = lock_task(task_id, assignee=actor)
        if task.assignee_id != actor.pk:
            raise NotAllowed("Only the assignee may decide this task.", code="not_assignee")
        if task.state != TaskState.OPEN or request.state != RequestState.PENDING:
            raise Conflict(
                f"This task is already {task.get_state_display().lower()}.", code="task_closed"
            )
        now = timezone.now()
        try:
            # No savepoint: a refused insert ends this service call, and the Conflict
            # leaving the transaction rolls it back.
            insert(
                Decision(
                    task=task,
                    request=request,
                    decision=decision,
                    comment=comment,
                    decided_by=actor,
                    on_behalf_of_id=task.on_behalf_of_id,
                    via=via,
                )
            )
        except IntegrityError:
            raise Conflict("This task was already decided.", code="already_decided") from None
        _TRANSITIONS[DecisionKind(decision)](task)
        task.decided_at = now
        task.sla_next_at = None
        save_fields(task, "state", "decided_at", "sla_next_at")
        who = actor_of(actor, via=via, task=task)
        log_event(
            request, "task_decided", who, **task_info(task), decision=decision, comment=comment
        )
        advance(request, task, now=now, actor=who)
    return task


def delegate(
    *, task_id: int, actor: Person, to: Person, comment: str = "", via: str = Via.WEB
) -> Task:
    """Hand an open task to another person; returns the new task. The assignee may
    delegate their own task; an administrator (``approvals.change_task``) may
    reassign anyone's, but never decide it."""
    comment = clean_comment(comment, required=False)
    with service_transaction():
        request, task = lock_task(task_id)
        by_admin = task.assignee_id != actor.pk
        if by_admin and not actor.has_perm("approvals.change_task"):
            raise NotAllowed("Only the assignee may delegate this task.", code="not_assignee")
        if task.state != TaskState.OPEN or request.state != RequestState.PENDING:
            raise Conflict(
                f"This task is already {task.get_state_display().lower()}.", code="task_closed"
            )
        problem = (
            "they already have this task"
            if to.pk == task.assignee_id
            else "they have left the company"
            if not to.is_active
            else "a requester never approves their own request"
            if to.pk == request.requester_id
            else "a service account cannot decide"
            if to.is_service_account
            else None
        )
        if problem:
            raise InvalidInput(
                f"Cannot delegate to {to.username}: {problem}.",
                code="invalid_delegate",
                faults=[Fault("to", problem)],
            )
        new = hand_over(
            request,
            task,
            to=to,
            now=timezone.now(),
            state_change=Task.hand_over,
            notes=[f"delegated by {actor.username}"] + ([comment] if comment else []),
        )
        log_event(
            request,
            "task_delegated",
            actor_of(actor, via=via, task=task),
            from_task=task.pk,
            by_admin=by_admin,
            comment=comment,
            **task_info(new),
        )
    return new
