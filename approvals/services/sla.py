"""The system acts: reminders, escalations, automatic decisions, expiry, reassignment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from approvals.choices import RequestState, TaskState
from approvals.errors import InvalidInput
from approvals.models import Request, Task
from approvals.notifications.notify import notify, notify_many
from approvals.planning import (
    Routed,
    next_rung,
    route,
)
from approvals.recipes import (
    SLA,
    ApproverRef,
)
from approvals.services._common import (
    SLA_ACTOR,
    close_open_tasks,
    event_fields,
    lock_request,
    log_event,
    open_pair,
    snapshot,
    task_info,
)
from approvals.services.flow import advance, hand_over, replacement
from audit.services import SYSTEM, record_events
from config import bulk_insert
from orgchart.chart import Chart, Wanted, chart_for
from orgchart.models import Person

# The rungs of a task, most severe first: at most one acts per task and sweep.
AUTO, ESCALATE, REMIND = "auto", "escalate", "remind"
# The task fields that hold the times of its rungs.
RUNG_COLUMNS = ("remind_at", "escalate_at", "auto_action_at")


def _sla_of(request: Request, task: Task) -> SLA | None:
    step = request.workflow_version.recipe.step(task.step_id)
    return step.sla if step else None


def _due_rung(task: Task, sla: SLA | None, now: datetime) -> str | None:
    """The most severe rung of this open task that is due at ``now``, if any."""
    if task.auto_action_at and task.auto_action_at <= now and sla and sla.auto_action:
        return AUTO
    if task.escalate_at and task.escalate_at <= now:
        return ESCALATE
    if task.remind_at and task.remind_at <= now and task.reminded_at is None:
        return REMIND
    return None


def _escalation_ref(request: Request, task: Task) -> ApproverRef:
    sla = _sla_of(request, task)
    return (sla.escalate_to if sla else None) or ApproverRef(
        kind="approver_manager", raw="{{ approver.manager }}", depth=1
    )


def _escalation_target(
    request: Request, task: Task, ref: ApproverRef, *, chart: Chart | None = None
) -> Routed:
    return route(
        ref,
        recipe=request.workflow_version.recipe,
        requester=request.requester,
        inputs=request.inputs,
        approver=task.assignee,
        chart=chart,
    )[0]


def _escalation_notes(task: Task, target: Routed, now: datetime) -> list[str]:
    return [
        f"escalated from {task.assignee.username} at {now:%Y-%m-%d %H:%M}",
        *target.assignment.notes,
    ]


def _escalation_payload(task: Task, new: Task, ref: ApproverRef, target: Routed) -> dict[str, Any]:
    return {
        "from_task": task.pk,
        "reference": ref.raw,
        "fallback": target.fallback,
        **task_info(new),
    }


def _escalate(request: Request, task: Task, *, now: datetime) -> Task:
    ref = _escalation_ref(request, task)
    target = _escalation_target(request, task, ref)
    new = hand_over(
        request,
        task,
        to=target.assignment.assignee,
        now=now,
        state_change=Task.escalate,
        notes=_escalation_notes(task, target, now),
        keep_rungs=False,
    )
    log_event(request, "task_escalated", SLA_ACTOR, **_escalation_payload(task, new, ref, target))
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
        sla = _sla_of(request, task)
        rung = _due_rung(task, sla, now)
        if rung == AUTO and sla and sla.auto_action:
            rule = (
                f"steps.{task.step_id}.sla: auto_action {sla.auto_action} "
                f"at {task.auto_action_at:%Y-%m-%d %H:%M}"
            )
            if sla.auto_action == "expire":
                _expire(request, now=now, rule=rule)
                return ["expired"]
            _auto_decide(request, task, decision=sla.auto_action, now=now, rule=rule)
            return [f"auto_{sla.auto_action}"]
        if rung == ESCALATE:
            _escalate(request, task, now=now)
            return ["escalated"]
        if rung == REMIND:
            _remind(request, task, now=now)
            return ["reminded"]
        # Nothing due (another sweeper acted first): just make the next rung right.
        if task.sla_next_at != next_rung(task):
            task.sla_next_at = next_rung(task)
            task.save(update_fields=["sla_next_at"])
        return []


def sla_put_off(*, task_id: int, until: datetime) -> bool:
    """SLA: look at this open task again at ``until``, not before (the sweep failed to
    act on it). Its rungs are untouched, so it is due again then. False if closed."""
    with transaction.atomic():
        pair = open_pair(task_id)
        if pair is None:
            return False
        task = pair[1]
        task.sla_next_at = until
        task.save(update_fields=["sla_next_at"])
        return True


@dataclass
class SlaBatch:
    """What ``sla_act_many`` did: per task the rungs acted on; the due tasks it left
    to ``sla_act`` (their requests have an automatic action due); and the tasks it
    acted on that are still due (so a sweep does not try them again in its pass)."""

    acted: dict[int, list[str]] = field(default_factory=dict)
    one_by_one: list[int] = field(default_factory=list)
    left_due: set[int] = field(default_factory=set)


def sla_act_many(*, request_ids: list[int], now: datetime) -> SlaBatch:
    """SLA for many requests at once: the reminders and escalations due at ``now`` on
    their open tasks, in one transaction, writing what ``sla_act`` writes one task at
    a time (the same task rows, audit events with their snapshots, outbox rows) with
    a few queries per batch instead of a few dozen per task.

    Requests with an automatic action due are left untouched and their due tasks
    returned in ``one_by_one``, for ``sla_act``: an automatic decision can close the
    step, open the next one or finish the request, the engine's whole path."""
    batch = SlaBatch()
    with transaction.atomic():
        requests = _lock_pending(request_ids)
        due = list(
            Task.objects.select_for_update(of=("self",))
            .select_related("assignee", "on_behalf_of")
            .filter(request_id__in=requests, state=TaskState.OPEN, sla_next_at__lte=now)
            .order_by("sla_next_at", "pk")
        )
        rungs = [
            (task, _due_rung(task, _sla_of(requests[task.request_id], task), now)) for task in due
        ]
        automatic = {task.request_id for task, rung in rungs if rung == AUTO}
        batch.one_by_one = [task.pk for task, _ in rungs if task.request_id in automatic]
        work = [
            (requests[task.request_id], task, rung)
            for task, rung in rungs
            if task.request_id not in automatic
        ]
        if work:
            _act_in_bulk(work, now=now, batch=batch)
    return batch


def _lock_pending(request_ids: list[int]) -> dict[int, Request]:
    """Lock the requests in id order (a sweep already holds them: a re-lock) and keep
    the pending ones: only those have tasks the SLA acts on."""
    locked = (
        Request.objects.select_for_update(of=("self",))
        .select_related("workflow", "workflow_version", "requester")
        .filter(pk__in=request_ids)
        .order_by("pk")
    )
    return {r.pk: r for r in locked if r.state == RequestState.PENDING}


def _act_in_bulk(
    work: list[tuple[Request, Task, str | None]], *, now: datetime, batch: SlaBatch
) -> None:
    """Remind and escalate, task by task in memory, then write with one statement
    per kind of change. ``work`` is in the order a one-at-a-time sweep acts. The
    escalations resolve their targets against one org chart, read for all of them
    in a few queries."""
    snapshots = _RoundSnapshots({request.pk: request for request, _, _ in work})
    refs = {
        task.pk: _escalation_ref(request, task) for request, task, rung in work if rung == ESCALATE
    }
    chart = chart_for(
        Wanted(refs[task.pk], request.requester, request.inputs, task.assignee)
        for request, task, rung in work
        if rung == ESCALATE
    )
    changed: dict[str, list[Task]] = {"reminded": [], "escalated": [], "corrected": []}
    escalations: dict[int, tuple[Task, ApproverRef, Routed]] = {}
    for request, task, rung in work:
        if rung == REMIND:
            task.reminded_at = now
            task.sla_next_at = next_rung(task)
            changed["reminded"].append(task)
        elif rung == ESCALATE:
            ref = refs[task.pk]
            target = _escalation_target(request, task, ref, chart=chart)
            Task.escalate(task)
            task.decided_at = now
            task.sla_next_at = None
            new = replacement(
                request,
                task,
                to=target.assignment.assignee,
                notes=_escalation_notes(task, target, now),
                keep_rungs=False,
            )
            escalations[task.pk] = (new, ref, target)
            changed["escalated"].append(task)
        elif task.sla_next_at != next_rung(task):
            # Nothing due (another sweeper acted first): just make the next rung right.
            task.sla_next_at = next_rung(task)
            changed["corrected"].append(task)
    _update(changed["escalated"], state=TaskState.ESCALATED, decided_at=now, sla_next_at=None)
    _update_next_rungs(changed["reminded"], reminded_at=now)
    _update_next_rungs(changed["corrected"])
    _insert_tasks([new for new, _, _ in escalations.values()])

    # The events and messages, in the order the one-at-a-time path writes them.
    events: list[dict[str, Any]] = []  # audit.services.record_events' items
    messages: list[tuple] = []  # notify_many's (kind, request, task, recipients)
    for request, task, rung in work:
        if rung == REMIND:
            events.append(
                event_fields(request, "reminder_sent", SLA_ACTOR, task_info(task),
                             snapshots.take(request))
            )
            messages.append(("task_reminder", request, task, [task.assignee]))
            batch.acted[task.pk] = ["reminded"]
        elif rung == ESCALATE:
            new, ref, target = escalations[task.pk]
            snapshots.replaced(request, task, new)
            messages.append(("task_assigned", request, new, [new.assignee]))
            events.append(
                event_fields(
                    request,
                    "task_escalated",
                    SLA_ACTOR,
                    _escalation_payload(task, new, ref, target),
                    snapshots.take(request),
                )
            )
            messages.append(("task_escalated", request, new, [new.assignee, task.assignee]))
            batch.acted[task.pk] = ["escalated"]
        if task.sla_next_at is not None and task.sla_next_at <= now:
            batch.left_due.add(task.pk)
    record_events(events)
    notify_many(messages)


def _insert_tasks(tasks: list[Task]) -> None:
    """``Task.objects.bulk_create(tasks)``, on PostgreSQL as one JSON parameter
    (config.bulk_insert: bulk_create compiles its statement and prepares every cell
    of every task on each call, the dearest statement of an escalating batch). Each
    new task replaces one escalated task of the batch: ``replaces_id`` tells which id
    the database gave which task."""
    if not tasks:
        return
    connection = transaction.get_connection()
    if not bulk_insert.available(connection):
        Task.objects.bulk_create(tasks)
        return
    for task in tasks:
        # What bulk_create checks first: related rows saved, their ids copied.
        task._prepare_related_fields_for_save(operation_name="bulk_create")
    ids = dict(
        (replaces, pk)
        for pk, replaces in bulk_insert.insert_rows(
            connection, tasks, returning=("id", "replaces_id")
        )
    )
    if len(ids) != len(tasks):  # two new tasks replacing one: not what a batch makes
        raise RuntimeError("sla: the replacement tasks of a batch must replace distinct tasks")
    for task in tasks:
        task.pk = ids[task.replaces_id]
        task._state.adding, task._state.db = False, connection.alias


def _update(tasks: list[Task], **values: Any) -> None:
    """Write the same values to these open tasks, which the batch holds locked (the
    transitions already ran on the instances: ``state`` is their target)."""
    if not tasks:
        return
    updated = Task.objects.filter(pk__in=[t.pk for t in tasks], state=TaskState.OPEN).update(
        **values
    )
    if updated != len(tasks):  # cannot happen under the locks; never write half a batch
        raise RuntimeError(f"sla: {len(tasks) - updated} task(s) changed under the batch's locks")


def _update_next_rungs(tasks: list[Task], **values: Any) -> None:
    """``_update`` with each task's own next rung (``sla_next_at``, set on the instance).
    A next rung is always one of the task's rung times (``next_rung``), so one UPDATE
    per rung column copies that column: a statement or two, where ``bulk_update``
    would build a CASE arm per task."""
    groups: dict[Any, list[Task]] = {}
    for task in tasks:
        column = next(
            (c for c in RUNG_COLUMNS if task.sla_next_at and getattr(task, c) == task.sla_next_at),
            None,
        )
        groups.setdefault(column or task.sla_next_at, []).append(task)
    for source, group in groups.items():
        _update(group, **values, sla_next_at=F(source) if isinstance(source, str) else source)


class _RoundSnapshots:
    """The requests' current-round tasks, read once before the batch changes them and
    kept up to date in memory, so each event's snapshot is what ``snapshot()`` would
    read right after that event (services/_common.py; the shapes must match)."""

    def __init__(self, requests: dict[int, Request]):
        self.tasks: dict[int, dict[int, dict[str, Any]]] = {pk: {} for pk in requests}
        rows = (
            Task.objects.filter(request_id__in=requests, round=F("request__round"))
            .order_by()
            .values_list(
                "request_id",
                "pk",
                "step_id",
                "assignee__username",
                "on_behalf_of__username",
                "state",
            )
        )
        for request_id, pk, step, who, behalf, state in rows:
            self.tasks[request_id][pk] = {
                "id": pk,
                "step": step,
                "assignee": who,
                "on_behalf_of": behalf,
                "state": state,
            }

    def replaced(self, request: Request, old: Task, new: Task) -> None:
        tasks = self.tasks[request.pk]
        tasks[old.pk]["state"] = old.state
        tasks[new.pk] = {
            "id": new.pk,
            "step": new.step_id,
            "assignee": new.assignee.username,
            "on_behalf_of": new.on_behalf_of.username if new.on_behalf_of else None,
            "state": new.state,
        }

    def take(self, request: Request) -> dict[str, Any]:
        tasks = self.tasks[request.pk]
        return snapshot(request, tasks=[dict(tasks[pk]) for pk in sorted(tasks)])


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
