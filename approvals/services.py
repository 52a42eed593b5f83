"""The engine: the one way requests, tasks and decisions change.

Every function here runs in one transaction, locks the request row first
(``select_for_update``; on SQLite the IMMEDIATE transaction serializes writers),
moves states only through django-fsm transitions, writes its audit events in
the same transaction and queues anything that leaves the process after commit
(``notify`` writes outbox rows and hands them to Celery with on_commit).
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.text import get_valid_filename

from approvals.choices import DecisionKind, RequestState, TaskState, Via
from approvals.errors import Conflict, InvalidInput, NotAllowed, NotFound
from approvals.models import Attachment, Comment, Decision, Request, Task, Workflow, WorkflowVersion
from approvals.notifications.notify import notify
from approvals.planning import (
    check_when,
    new_task,
    next_rung,
    quorum_state,
    route,
    route_step,
    rungs_for,
)
from approvals.recipes import (
    ApproverRef,
    Fault,
    InputError,
    Recipe,
    RecipeError,
    Step,
    clean_inputs,
    content_hash,
    parse_recipe,
)
from audit.services import SYSTEM, Actor, record_event
from orgchart.models import Person, Role

MAX_COMMENT = 10_000
MAX_SOURCE = 200_000


# --- internals: locking, audit, snapshots -------------------------------------------


def _lock_request(request_id: int) -> Request:
    try:
        return (
            Request.objects.select_for_update(of=("self",))
            .select_related("workflow", "workflow_version", "requester")
            .get(pk=request_id)
        )
    except (Request.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such request.") from None


def _lock_task(task_id: int) -> tuple[Request, Task]:
    """Lock the task's request first, then the task: every service takes locks in
    this order, so two services never wait on each other in a cycle."""
    try:
        request_id = Task.objects.filter(pk=task_id).values_list("request_id", flat=True).first()
    except (ValueError, TypeError):
        request_id = None
    if request_id is None:
        raise NotFound("No such task.")
    request = _lock_request(request_id)
    task = (
        Task.objects.select_for_update(of=("self",))
        .select_related("assignee", "on_behalf_of")
        .get(pk=task_id)
    )
    return request, task


def _snapshot(request: Request) -> dict[str, Any]:
    return {
        "state": request.state,
        "current_step": request.current_step or None,
        "round": request.round,
        "decided_at": request.decided_at,
    }


def _audit(request: Request, event_type: str, actor: Actor, **payload: Any) -> None:
    record_event(
        event_type=event_type,
        actor=actor,
        request_id=request.pk,
        workflow_key=request.workflow.key,
        workflow_version=request.workflow_version.number,
        payload=payload,
        snapshot=_snapshot(request),
        inputs=request.inputs,
    )


def _actor(person: Person, *, via: str, task: Task | None = None) -> Actor:
    return Actor(
        user=person.username,
        role=(task.role or None) if task else None,
        on_behalf_of=task.on_behalf_of.username if task and task.on_behalf_of else None,
        via=via,
    )


SLA_ACTOR = Actor(user="system", via=Via.SLA)


def _task_info(task: Task) -> dict[str, Any]:
    return {
        "task": task.pk,
        "step": task.step_id,
        "assignee": task.assignee.username,
        "on_behalf_of": task.on_behalf_of.username if task.on_behalf_of else None,
        "chain": task.delegation_chain,
        "role": task.role or None,
        "due_at": task.due_at,
    }


def _clean(recipe: Recipe, inputs: Any) -> dict[str, Any]:
    """Inputs checked against the recipe, and every ``user`` input against the org chart."""
    try:
        cleaned = clean_inputs(recipe, inputs)
    except InputError as exc:
        raise InvalidInput(str(exc), code="invalid_inputs", faults=exc.faults) from exc
    people = {spec.name: cleaned[spec.name] for spec in recipe.inputs if spec.type == "user"}
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


def _close_open_tasks(
    request: Request, *, now: datetime, step_id: str | None = None, expire: bool = False
) -> list[int]:
    """Cancel (or expire) the open tasks of the request, or of one step of it."""
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
        task.save(update_fields=["state", "decided_at", "sla_next_at"])
        closed.append(task.pk)
    return closed


# --- planning and finishing -----------------------------------------------------------


def _plan_from(request: Request, recipe: Recipe, start: int, *, now: datetime) -> None:
    """Run the steps from ``start``: skip those whose ``when`` is false, finish on an
    action step, open the tasks of the first approval or parallel step. With no
    step left the request is approved."""
    for index in range(start, len(recipe.steps)):
        step = recipe.steps[index]
        result = check_when(step, recipe=recipe, request=request, now=now)
        if not result.value:
            _audit(
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
            _finish(
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
        _open_step(request, recipe, step, now=now, seen=result.seen)
        return
    _finish(request, approved=True, actor=SYSTEM, now=now, rule={"reason": "no step left"})


def _open_step(
    request: Request, recipe: Recipe, step: Step, *, now: datetime, seen: dict[str, Any]
) -> None:
    routed = route_step(step, recipe=recipe, requester=request.requester, inputs=request.inputs)
    if request.state == RequestState.CREATED:
        request.start()
    request.current_step = step.id
    request.step_started_at = now
    request.save(update_fields=["state", "current_step", "step_started_at", "updated_at"])
    _audit(
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
            _audit(request, "routing_fallback", SYSTEM, **_task_info(task), fallback=item.fallback)
        _audit(
            request,
            "task_assigned",
            SYSTEM,
            **_task_info(task),
            notes=list(item.assignment.notes),
        )
        notify(kind="task_assigned", request=request, task=task, recipients=[task.assignee])


def _finish(
    request: Request, *, approved: bool, actor: Actor, now: datetime, rule: dict[str, Any]
) -> None:
    cancelled = _close_open_tasks(request, now=now)
    request.approve() if approved else request.reject()
    request.current_step = ""
    request.decided_at = now
    request.save(update_fields=["state", "current_step", "decided_at", "updated_at"])
    _audit(
        request,
        "request_approved" if approved else "request_rejected",
        actor,
        cancelled_tasks=cancelled,
        **rule,
    )
    notify(kind="request_finished", request=request, recipients=[request.requester])


def _advance(request: Request, task: Task, *, now: datetime, actor: Actor) -> None:
    """After a decision: send back, or apply the step's quorum and move on."""
    recipe = request.workflow_version.recipe
    step = recipe.step(task.step_id)
    if task.state == TaskState.CHANGES_REQUESTED:
        cancelled = _close_open_tasks(request, now=now)
        request.send_back()
        request.current_step = ""
        request.save(update_fields=["state", "current_step", "updated_at"])
        _audit(request, "changes_requested", actor, step=task.step_id, task=task.pk,
               cancelled_tasks=cancelled)
        notify(kind="changes_requested", request=request, task=task, recipients=[request.requester])
        return
    if step is None:  # a version is immutable, so this would be data corruption
        raise Conflict(f"Step {task.step_id!r} is not in this workflow version.")
    state = quorum_state(request, step)
    if state.outcome is None:
        return
    cancelled = _close_open_tasks(request, now=now, step_id=step.id)
    _audit(
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
        _finish(
            request,
            approved=False,
            actor=SYSTEM,
            now=now,
            rule={"step": step.id, "reason": "quorum can no longer be reached"},
        )
    else:
        _plan_from(request, recipe, recipe.step_index(step.id) + 1, now=now)


# --- publish --------------------------------------------------------------------------


def publish(*, source: str, author: Person | None = None) -> tuple[WorkflowVersion, bool]:
    """Validate and publish a recipe (YAML or JSON text). Returns the version and
    whether it is new: content identical to the latest version publishes nothing.
    Raises InvalidInput with ``faults`` (path, line, message)."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("The recipe is empty.", code="invalid_recipe",
                           faults=[Fault("", "the recipe is empty")])
    if len(source) > MAX_SOURCE:
        raise InvalidInput(f"The recipe is longer than {MAX_SOURCE} characters.",
                           code="invalid_recipe", faults=[Fault("", "the recipe is too long")])
    roles = dict(Role.objects.annotate(n=Count("memberships")).values_list("name", "n"))
    try:
        recipe = parse_recipe(source, known_roles=roles)
    except RecipeError as exc:
        raise InvalidInput(
            f"The recipe has {len(exc.faults)} error(s): {exc}",
            code="invalid_recipe",
            faults=exc.faults,
        ) from exc
    digest = content_hash(recipe)
    with transaction.atomic():
        Workflow.objects.get_or_create(
            key=recipe.workflow,
            defaults={"title": recipe.title, "description": recipe.description},
        )
        workflow = (
            Workflow.objects.select_for_update(of=("self",))
            .select_related("latest_version")
            .get(key=recipe.workflow)
        )
        latest = workflow.latest_version
        if latest is not None and latest.content_hash == digest:
            return latest, False
        _check_triggers(workflow, recipe)
        version = WorkflowVersion.objects.create(
            workflow=workflow,
            number=(latest.number if latest else 0) + 1,
            source=source,
            content_hash=digest,
            triggers=list(recipe.triggers),
            restricted=recipe.visibility == "restricted",
            viewers=list(recipe.viewers),
            published_by=author,
        )
        workflow.latest_version = version
        workflow.title = recipe.title
        workflow.description = recipe.description
        workflow.save(update_fields=["latest_version", "title", "description"])
        record_event(
            event_type="workflow_published",
            actor=Actor(user=author.username if author else "system", via=Via.SYSTEM),
            workflow_key=workflow.key,
            workflow_version=version.number,
            payload={"content_hash": digest, "title": recipe.title, "steps": len(recipe.steps)},
        )
    return version, True


def _check_triggers(workflow: Workflow, recipe: Recipe) -> None:
    """One active workflow per event name."""
    if not recipe.triggers:
        return
    others = Workflow.objects.filter(is_active=True, latest_version__isnull=False).exclude(
        pk=workflow.pk
    ).select_related("latest_version")
    taken = {t: w.key for w in others for t in w.latest_version.triggers}
    faults = [
        Fault(f"triggers[{i}]", f"event {name!r} already starts workflow {taken[name]!r}")
        for i, name in enumerate(recipe.triggers)
        if name in taken
    ]
    if faults:
        raise InvalidInput(str(faults[0]), code="invalid_recipe", faults=faults)


# --- the requester's side -------------------------------------------------------------


def submit(
    *,
    workflow_key: str,
    requester: Person,
    inputs: dict[str, Any],
    title: str = "",
    entity_type: str = "",
    entity_id: str = "",
    submitted_by: Person | None = None,
    via: str = Via.WEB,
) -> Request:
    """Create a request on the workflow's latest version and plan its first step."""
    workflow = (
        Workflow.objects.select_related("latest_version").filter(key=str(workflow_key)).first()
    )
    if workflow is None or workflow.latest_version is None:
        raise InvalidInput(
            f"No published workflow {workflow_key!r}.",
            code="unknown_workflow",
            faults=[Fault("workflow", f"no published workflow {workflow_key!r}")],
        )
    if not workflow.is_active:
        raise InvalidInput(f"Workflow {workflow.key!r} is retired.", code="workflow_retired",
                           faults=[Fault("workflow", "this workflow is retired")])
    if not requester.is_active or requester.is_service_account:
        raise InvalidInput("Only an active employee may be a requester.", code="invalid_requester",
                           faults=[Fault("requester", "not an active employee")])
    faults = [
        Fault(name, f"at most {limit} characters")
        for name, value, limit in (
            ("title", title, 300),
            ("entity_type", entity_type, 100),
            ("entity_id", entity_id, 200),
        )
        if len(value or "") > limit
    ]
    if faults:
        raise InvalidInput(str(faults[0]), faults=faults)
    version = workflow.latest_version
    recipe = version.recipe
    cleaned = _clean(recipe, inputs)
    now = timezone.now()
    with transaction.atomic():
        request = Request(
            workflow=workflow,
            workflow_version=version,
            requester=requester,
            submitted_by=submitted_by,
            title=(title or "").strip() or f"{recipe.title} — {requester.display_name}",
            inputs=cleaned,
            entity_type=entity_type or "",
            entity_id=entity_id or "",
        )
        request.save(force_insert=True)
        actor = Actor(
            user=(submitted_by or requester).username,
            on_behalf_of=requester.username if submitted_by else None,
            via=via,
        )
        _audit(request, "request_submitted", actor, title=request.title,
               submitted_by=submitted_by.username if submitted_by else None)
        _plan_from(request, recipe, 0, now=now)
    return request


def cancel(*, request_id: int, actor: Person, comment: str = "", via: str = Via.WEB) -> Request:
    """The requester withdraws a pending (or sent-back) request."""
    comment = _comment(comment, required=False)
    with transaction.atomic():
        request = _lock_request(request_id)
        if request.requester_id != actor.pk:
            raise NotAllowed("Only the requester may cancel a request.", code="not_requester")
        if request.state not in (RequestState.PENDING, RequestState.CHANGES_REQUESTED):
            raise Conflict(f"The request is already {request.get_state_display().lower()}.",
                           code="request_closed")
        now = timezone.now()
        assignees = list(
            Person.objects.filter(tasks__request=request, tasks__state=TaskState.OPEN).distinct()
        )
        cancelled = _close_open_tasks(request, now=now)
        request.cancel()
        request.current_step = ""
        request.decided_at = now
        request.save(update_fields=["state", "current_step", "decided_at", "updated_at"])
        _audit(request, "request_cancelled", _actor(actor, via=via), comment=comment,
               cancelled_tasks=cancelled)
        notify(kind="request_finished", request=request, recipients=assignees)
    return request


def resubmit(
    *, request_id: int, actor: Person, inputs: dict[str, Any], via: str = Via.WEB
) -> Request:
    """The requester sends a request back after changes were requested; it runs
    again from the first step with the new inputs (earlier decisions stay in the
    history and do not count)."""
    with transaction.atomic():
        request = _lock_request(request_id)
        if request.requester_id != actor.pk:
            raise NotAllowed("Only the requester may resubmit a request.", code="not_requester")
        if request.state != RequestState.CHANGES_REQUESTED:
            raise Conflict("Only a request sent back for changes can be resubmitted.",
                           code="not_changes_requested")
        recipe = request.workflow_version.recipe
        request.inputs = _clean(recipe, inputs)
        request.round += 1
        request.resubmit()
        request.save(update_fields=["inputs", "round", "state", "updated_at"])
        _audit(request, "request_resubmitted", _actor(actor, via=via), round=request.round)
        _plan_from(request, recipe, 0, now=timezone.now())
    return request


# --- the approver's side --------------------------------------------------------------


def _comment(comment: Any, *, required: bool) -> str:
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise InvalidInput("The comment must be text.", code="invalid_comment",
                           faults=[Fault("comment", "must be text")])
    comment = comment.strip()
    if required and not comment:
        raise InvalidInput("A comment is required to reject or request changes.",
                           code="comment_required", faults=[Fault("comment", "required")])
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"The comment is longer than {MAX_COMMENT} characters.",
                           code="invalid_comment", faults=[Fault("comment", "too long")])
    return comment


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
    comment = _comment(comment, required=decision != DecisionKind.APPROVE)
    with transaction.atomic():
        request, task = _lock_task(task_id)
        if task.assignee_id != actor.pk:
            raise NotAllowed("Only the assignee may decide this task.", code="not_assignee")
        if task.state != TaskState.OPEN or request.state != RequestState.PENDING:
            raise Conflict(f"This task is already {task.get_state_display().lower()}.",
                           code="task_closed")
        now = timezone.now()
        try:
            with transaction.atomic():
                Decision.objects.create(
                    task=task,
                    request=request,
                    decision=decision,
                    comment=comment,
                    decided_by=actor,
                    on_behalf_of=task.on_behalf_of,
                    via=via,
                )
        except IntegrityError:
            raise Conflict("This task was already decided.", code="already_decided") from None
        _TRANSITIONS[DecisionKind(decision)](task)
        task.decided_at = now
        task.sla_next_at = None
        task.save(update_fields=["state", "decided_at", "sla_next_at"])
        who = _actor(actor, via=via, task=task)
        _audit(request, "task_decided", who, **_task_info(task), decision=decision, comment=comment)
        _advance(request, task, now=now, actor=who)
    return task


def delegate(
    *, task_id: int, actor: Person, to: Person, comment: str = "", via: str = Via.WEB
) -> Task:
    """Hand an open task to another person; returns the new task. The assignee may
    delegate their own task; an administrator (``approvals.change_task``) may
    reassign anyone's, but never decide it."""
    comment = _comment(comment, required=False)
    with transaction.atomic():
        request, task = _lock_task(task_id)
        by_admin = task.assignee_id != actor.pk
        if by_admin and not actor.has_perm("approvals.change_task"):
            raise NotAllowed("Only the assignee may delegate this task.", code="not_assignee")
        if task.state != TaskState.OPEN or request.state != RequestState.PENDING:
            raise Conflict(f"This task is already {task.get_state_display().lower()}.",
                           code="task_closed")
        problem = (
            "they already have this task" if to.pk == task.assignee_id
            else "they have left the company" if not to.is_active
            else "a requester never approves their own request" if to.pk == request.requester_id
            else "a service account cannot decide" if to.is_service_account
            else None
        )
        if problem:
            raise InvalidInput(f"Cannot delegate to {to.username}: {problem}.",
                               code="invalid_delegate", faults=[Fault("to", problem)])
        new = _hand_over(
            request, task, to=to, now=timezone.now(), state_change=Task.hand_over,
            notes=[f"delegated by {actor.username}"] + ([comment] if comment else []),
        )
        _audit(request, "task_delegated", _actor(actor, via=via, task=task),
               from_task=task.pk, by_admin=by_admin, comment=comment, **_task_info(new))
    return new


def _hand_over(
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
    task.save(update_fields=["state", "decided_at", "sla_next_at"])
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
    new.save(force_insert=True)
    notify(kind="task_assigned", request=request, task=new, recipients=[to])
    return new


def add_comment(*, request_id: int, author: Person, text: str) -> Comment:
    """A question or an answer on a request's thread; no state change. Anyone who may
    see the request may comment; the other participants are notified."""
    from approvals.selectors import request_for

    text = _comment(text, required=True)
    request_for(author, request_id)  # NotFound for those who may not see it
    with transaction.atomic():
        request = _lock_request(request_id)
        comment = Comment.objects.create(request=request, author=author, text=text)
        _audit(request, "comment_added", _actor(author, via=Via.WEB), comment=comment.pk,
               text=text)
        others = {request.requester_id} | set(
            request.tasks.filter(state=TaskState.OPEN).values_list("assignee_id", flat=True)
        )
        others.discard(author.pk)
        notify(kind="comment_added", request=request,
               recipients=list(Person.objects.filter(pk__in=others)),
               extra={"comment": comment.pk})
    return comment


def add_attachment(*, request_id: int, author: Person, uploaded: Any) -> Attachment:
    """Attach evidence (an UploadedFile) to a request, within the size and type limits
    (settings.APPROVALS ATTACHMENT_MAX_BYTES and ATTACHMENT_TYPES); InvalidInput beyond.
    The requester and the people with a task on the request may attach."""
    from approvals.selectors import request_for

    limits = settings.APPROVALS
    name = get_valid_filename(os.path.basename(getattr(uploaded, "name", "") or ""))[:200]
    ext = os.path.splitext(name)[1].lower().lstrip(".")
    size = getattr(uploaded, "size", None)
    problem = (
        "no file was sent" if uploaded is None or not name or size is None
        else "the file is empty" if size == 0
        else f"the file is larger than {limits['ATTACHMENT_MAX_BYTES'] // 1_000_000} MB"
        if size > limits["ATTACHMENT_MAX_BYTES"]
        else f"files of type .{ext or '?'} are not accepted (allowed: "
        f"{', '.join(sorted(limits['ATTACHMENT_TYPES']))})"
        if ext not in limits["ATTACHMENT_TYPES"]
        else None
    )
    if problem:
        raise InvalidInput(f"Attachment refused: {problem}.", code="invalid_attachment",
                           faults=[Fault("file", problem)])
    request_for(author, request_id)
    with transaction.atomic():
        request = _lock_request(request_id)
        is_participant = request.requester_id == author.pk or request.tasks.filter(
            assignee=author
        ).exists()
        if not is_participant:
            raise NotAllowed("Only the requester and its approvers may attach files.",
                             code="not_participant")
        digest = hashlib.sha256()
        for chunk in uploaded.chunks():
            digest.update(chunk)
        uploaded.seek(0)
        attachment = Attachment(
            request=request,
            uploaded_by=author,
            filename=name,
            content_type=limits["ATTACHMENT_TYPES"][ext],
            size=size,
            sha256=digest.hexdigest(),
        )
        attachment.file.save(name, uploaded, save=False)
        attachment.save(force_insert=True)
        _audit(request, "attachment_added", _actor(author, via=Via.WEB),
               attachment=attachment.pk, filename=name, size=size, sha256=attachment.sha256)
    return attachment


# --- SLA and reassignment: the system acts ----------------------------------------------


def _escalate(request: Request, task: Task, *, now: datetime) -> Task:
    recipe = request.workflow_version.recipe
    step = recipe.step(task.step_id)
    ref = (step.sla.escalate_to if step and step.sla else None) or ApproverRef(
        kind="approver_manager", raw="{{ approver.manager }}", depth=1
    )
    target = route(ref, recipe=recipe, requester=request.requester, inputs=request.inputs,
                   approver=task.assignee)[0]
    new = _hand_over(
        request, task, to=target.assignment.assignee, now=now, state_change=Task.escalate,
        notes=[f"escalated from {task.assignee.username} at {now:%Y-%m-%d %H:%M}",
               *target.assignment.notes],
        keep_rungs=False,
    )
    _audit(request, "task_escalated", SLA_ACTOR, from_task=task.pk, reference=ref.raw,
           fallback=target.fallback, **_task_info(new))
    notify(kind="task_escalated", request=request, task=new,
           recipients=[new.assignee, task.assignee])
    return new


def _remind(request: Request, task: Task, *, now: datetime) -> None:
    task.reminded_at = now
    task.sla_next_at = next_rung(task)
    task.save(update_fields=["reminded_at", "sla_next_at"])
    _audit(request, "reminder_sent", SLA_ACTOR, **_task_info(task))
    notify(kind="task_reminder", request=request, task=task, recipients=[task.assignee])


def _auto_decide(request: Request, task: Task, *, decision: str, now: datetime,
                 rule: str) -> None:
    (Task.approve if decision == "approve" else Task.reject)(task)
    task.decided_at = now
    task.sla_next_at = None
    task.save(update_fields=["state", "decided_at", "sla_next_at"])
    _audit(request, "task_decided", SLA_ACTOR, **_task_info(task), decision=decision,
           rule=rule, automatic=True)
    _advance(request, task, now=now, actor=SLA_ACTOR)


def _expire(request: Request, *, now: datetime, rule: str) -> None:
    expired = _close_open_tasks(request, now=now, expire=True)
    request.expire()
    request.current_step = ""
    request.decided_at = now
    request.save(update_fields=["state", "current_step", "decided_at", "updated_at"])
    _audit(request, "request_expired", SLA_ACTOR, rule=rule, expired_tasks=expired)
    notify(kind="request_finished", request=request, recipients=[request.requester])


def _open_pair(task_id: int) -> tuple[Request, Task] | None:
    request, task = _lock_task(task_id)
    if task.state != TaskState.OPEN or request.state != RequestState.PENDING:
        return None
    return request, task


def escalate(*, task_id: int, at: datetime | None = None) -> Task | None:
    """SLA: reassign an open task to its escalation target, on behalf of the original
    approver; the original stays in the record as ``escalated``. None if closed."""
    with transaction.atomic():
        pair = _open_pair(task_id)
        return _escalate(*pair, now=at or timezone.now()) if pair else None


def remind(*, task_id: int, at: datetime | None = None) -> Task | None:
    """SLA: send the assignee a reminder, once."""
    with transaction.atomic():
        pair = _open_pair(task_id)
        if pair is None or pair[1].reminded_at is not None:
            return None
        _remind(*pair, now=at or timezone.now())
        return pair[1]


def auto_decide(*, task_id: int, decision: str, rule: str,
                at: datetime | None = None) -> Task | None:
    """SLA: the system decides a task (auto_action approve / reject)."""
    if decision not in ("approve", "reject"):
        raise InvalidInput("An automatic decision is approve or reject.")
    with transaction.atomic():
        pair = _open_pair(task_id)
        if pair is None:
            return None
        _auto_decide(*pair, decision=decision, now=at or timezone.now(), rule=rule)
        return pair[1]


def expire(*, request_id: int, at: datetime | None = None, rule: str = "expired") -> Request | None:
    """SLA: expire a pending request; its open tasks expire with it."""
    with transaction.atomic():
        request = _lock_request(request_id)
        if request.state != RequestState.PENDING:
            return None
        _expire(request, now=at or timezone.now(), rule=rule)
        return request


def sla_act(*, task_id: int, now: datetime) -> list[str]:
    """SLA: act on the rungs of this open task that are due at ``now``, once each, and
    move ``sla_next_at`` on. The most severe due rung wins (auto action, then
    escalation, then the reminder). Idempotent: a second call finds nothing due."""
    with transaction.atomic():
        pair = _open_pair(task_id)
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
    *, from_person: Person, reason: str, to: Person | None = None
) -> list[Task]:
    """Move every open task of a person who can no longer act: to ``to`` (an absence's
    delegate) or, by default, through resolution of that person (their manager when
    they left, their delegate when away). Audited per task, request by request."""
    moved: list[Task] = []
    task_ids = list(
        Task.objects.open().filter(assignee=from_person).values_list("pk", flat=True)
    )
    for task_id in task_ids:
        with transaction.atomic():
            pair = _open_pair(task_id)
            if pair is None or pair[1].assignee_id != from_person.pk:
                continue
            request, task = pair
            recipe = request.workflow_version.recipe
            target = to or from_person
            ref = ApproverRef(kind="user", raw=f"user:{target.username}", value=target.username)
            routed = route(
                ref, recipe=recipe, requester=request.requester, inputs=request.inputs
            )[0]
            if routed.assignment.assignee.pk == task.assignee_id:
                continue
            new = _hand_over(
                request, task, to=routed.assignment.assignee, now=timezone.now(),
                state_change=Task.hand_over, notes=[reason, *routed.assignment.notes],
            )
            _audit(request, "task_reassigned", SYSTEM, from_task=task.pk, reason=reason,
                   fallback=routed.fallback, **_task_info(new))
            moved.append(new)
    return moved
