"""What every service shares: locking in one order, the audit writer, input checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet, Subquery

from approvals.choices import RequestState, TaskState, Via
from approvals.errors import InvalidInput, NotFound
from approvals.models import Request, Task
from approvals.notifications.notify import batch as notify_batch
from approvals.recipes import (
    Fault,
    InputError,
    Recipe,
    clean_inputs,
)
from approvals.services._round import (
    known_round_tasks,
    round_tasks,
    track_locked_round,
    tracking,
)
from audit.services import Actor, append_event
from audit.services import deferred as audit_deferred
from config.prepared import Prepared
from config.saving import save_fields
from orgchart.models import Person

MAX_COMMENT = 10_000


@contextmanager
def service_transaction() -> Iterator[None]:
    """The one transaction of a service call. Inside it the round's tasks are read
    once and kept up to date (snapshots, quorum), and audit events and
    notifications are collected and written together at the end, still inside the
    transaction (audit first: ``audit.services.deferred``)."""
    with transaction.atomic(), tracking(), notify_batch(), audit_deferred():
        yield


def _locked_requests() -> QuerySet[Request]:
    return Request.objects.select_for_update(of=("self",)).select_related(
        "workflow", "workflow_version", "requester"
    )


def lock_request(request_id: int) -> Request:
    try:
        return _locked_requests().get(pk=request_id)
    except (Request.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such request.") from None


def _request_of_task(shape: None, task_id: int) -> QuerySet[Request]:
    return _locked_requests().filter(
        pk=Subquery(Task.objects.filter(pk=task_id).values("request_id")[:1])
    )


def _round_and_task(
    people: bool, request_id: int, round: int, task_id: int
) -> QuerySet[Task]:
    """The request's current round and the task (which may be of an earlier round),
    locked: with the assignees' and on-behalf-of people as objects (``people``), or
    only their usernames (the decider is already loaded)."""
    tasks = (
        Task.objects.select_for_update(of=("self",))
        .filter(Q(round=round) | Q(pk=task_id), request_id=request_id)
        .order_by("pk")
    )
    if people:
        return tasks.select_related("assignee", "on_behalf_of")
    return tasks.annotate(
        assignee_username=F("assignee__username"), behalf_username=F("on_behalf_of__username")
    )


_REQUEST_OF_TASK = Prepared(_request_of_task)
_ROUND_AND_TASK = Prepared(_round_and_task)
_ID_RANGE = (-(2**63), 2**63)  # BigAutoField: a larger number names no task


def lock_task(task_id: int, *, assignee: Person | None = None) -> tuple[Request, Task]:
    """Lock the task's request first, then the task: every service takes locks in
    this order, so two services never wait on each other in a cycle. The request
    is found and locked in one statement (its id from the task in a subquery). The
    second statement locks the tasks of the request's current round with the task:
    every engine change to a task holds its request's lock first, so this waits on
    no one, and the round's tasks are then known to this service call (snapshots,
    quorum) without reading them again.

    ``assignee``: the person expected to hold the task (the one deciding it), already
    loaded; when it is them, their row is not joined again. Both statements are
    compiled once per process (``Prepared``): they run on every decision."""
    try:
        task_id = int(task_id)
    except (ValueError, TypeError):
        raise NotFound("No such task.") from None
    if not _ID_RANGE[0] <= task_id < _ID_RANGE[1]:
        raise NotFound("No such task.")
    found = _REQUEST_OF_TASK.objects(None, task_id=task_id)
    if not found:
        raise NotFound("No such task.")
    request = found[0]
    people = assignee is None
    tasks = _ROUND_AND_TASK.objects(
        people, request_id=request.pk, round=request.round, task_id=task_id
    )
    in_round = [t for t in tasks if t.round == request.round]
    track_locked_round(request, in_round, people=people)
    task = next((t for t in tasks if t.pk == task_id), None)
    if task is None:  # gone since the first statement read it
        raise NotFound("No such task.")
    if assignee is not None and task.assignee_id == assignee.pk:
        task.assignee = assignee
    task.request = request  # the locked row, not a second copy read later
    return request, task


def snapshot(request: Request, tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The request as it stands right after an event: what replay shows. The tasks
    are those of the current round (earlier rounds are in earlier snapshots): read
    from the round's tracked tasks, unless the caller keeps them itself (the SLA
    batches), as ``as_snapshot()`` dicts."""
    if tasks is None:
        tasks = [t.as_snapshot() for t in round_tasks(request)]
    return {
        "state": request.state,
        "current_step": request.current_step or None,
        "round": request.round,
        "decided_at": request.decided_at,
        "inputs": request.inputs,
        "tasks": tasks,
    }


def log_event(request: Request, event_type: str, actor: Actor, **payload: Any) -> None:
    append_event(**event_fields(request, event_type, actor, payload, snapshot(request)))


def event_fields(
    request: Request, event_type: str, actor: Actor, payload: dict[str, Any],
    snap: dict[str, Any],
) -> dict[str, Any]:
    """``record_event``'s arguments for an event of ``request`` (the SLA batches pass
    many of them to ``record_events``, with snapshots they keep themselves)."""
    return {
        "event_type": event_type,
        "actor": actor,
        "request_id": request.pk,
        "workflow_key": request.workflow.key,
        "workflow_version": request.workflow_version.number,
        "payload": payload,
        "snapshot": snap,
        "inputs": request.inputs,
    }


def actor_of(person: Person, *, via: str, task: Task | None = None) -> Actor:
    return Actor(
        user=person.username,
        role=(task.role or None) if task else None,
        on_behalf_of=task.on_behalf_of.username if task and task.on_behalf_of else None,
        via=via,
    )


SLA_ACTOR = Actor(user="system", via=Via.SLA)


def task_info(task: Task) -> dict[str, Any]:
    return {
        "task": task.pk,
        "step": task.step_id,
        "assignee": task.assignee.username,
        "on_behalf_of": task.on_behalf_of.username if task.on_behalf_of else None,
        "chain": task.delegation_chain,
        "role": task.role or None,
        "due_at": task.due_at,
    }


def clean_request_inputs(recipe: Recipe, inputs: Any) -> dict[str, Any]:
    """Inputs checked against the recipe, and every ``user`` input against the org chart."""
    try:
        cleaned = clean_inputs(recipe, inputs)
    except InputError as exc:
        raise InvalidInput(str(exc), code="invalid_inputs", faults=exc.faults) from exc
    people = {spec.name: cleaned.get(spec.name) for spec in recipe.inputs if spec.type == "user"}
    people = {k: v for k, v in people.items() if v}
    if people:
        known = set(
            Person.objects.filter(username__in=people.values(), is_active=True).values_list(
                "username", flat=True
            )
        )
        faults = [
            Fault(f"inputs.{name}", f"no active person {username!r} in the org chart")
            for name, username in people.items()
            if username not in known
        ]
        if faults:
            message = "; ".join(str(f) for f in faults)
            raise InvalidInput(message, code="invalid_inputs", faults=faults)
    return cleaned


def clean_comment(comment: Any, *, required: bool) -> str:
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise InvalidInput(
            "The comment must be text.",
            code="invalid_comment",
            faults=[Fault("comment", "must be text")],
        )
    comment = comment.strip()
    if required and not comment:
        raise InvalidInput(
            "A comment is required to reject or request changes.",
            code="comment_required",
            faults=[Fault("comment", "required")],
        )
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(
            f"The comment is longer than {MAX_COMMENT} characters.",
            code="invalid_comment",
            faults=[Fault("comment", "too long")],
        )
    return comment


def close_open_tasks(
    request: Request, *, now: datetime, step_id: str | None = None, expire: bool = False
) -> list[int]:
    """Cancel (or expire) the open tasks of the request, or of one step of it.

    When this service call knows the round's tasks and none of them (of the step) is
    open, nothing is read: only tasks of the current round are ever open (a resubmit
    starts a new round only after ``changes_requested`` closed every open task, and
    a replacement task keeps the round of the open task it replaces)."""
    known = known_round_tasks(request)
    if known is not None and not any(
        t.is_open and (step_id is None or t.step == step_id) for t in known
    ):
        return []  # this service call knows there is no open task left to close
    tasks = Task.objects.select_for_update(of=("self",)).filter(
        request=request, state=TaskState.OPEN
    )
    if step_id is not None:
        tasks = tasks.filter(step_id=step_id, round=request.round)
    closed = []
    for task in tasks:
        task.expire() if expire else task.cancel()
        task.decided_at = now
        task.sla_next_at = None
        save_fields(task, "state", "decided_at", "sla_next_at")
        closed.append(task.pk)
    return closed


def open_pair(task_id: int) -> tuple[Request, Task] | None:
    request, task = lock_task(task_id)
    if task.state != TaskState.OPEN or request.state != RequestState.PENDING:
        return None
    return request, task
