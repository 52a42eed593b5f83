"""Loading past requests from an older system, with their original times and deciders.

``import_history`` (the command) parses a file and calls ``import_history``. A
file is JSON lines or one JSON list; each record is one finished (or pending)
request::

    {"ref": "PO-2019-0042",                 # the old system's id: a rerun skips it
     "workflow": "purchase_order", "workflow_version": 1,   # version: default latest
     "requester": "alice", "title": "Laptops",
     "submitted_at": "2021-08-03T10:00:00+00:00",
     "inputs": {"amount": "52000.00", "vendor": "Acme"},
     "decisions": [{"step": "manager", "decider": "bob", "on_behalf_of": null,
                    "decision": "approve", "at": "2021-08-03T15:00:00+00:00",
                    "comment": ""}],
     "outcome": "approved"}                  # default: from the decisions

Everything is checked before anything is written, and every fault is named
with its record (and line, for JSON lines); then all records load in one
transaction, oldest first. Each request gets its tasks, decisions and audit
events at their original times, marked ``imported``, chained in time order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.dateparse import parse_datetime

from approvals.choices import DecisionKind, RequestState, TaskState, Via
from approvals.errors import InvalidInput
from approvals.models import Decision, Request, Task, Workflow, WorkflowVersion
from approvals.recipes.schema import Fault
from audit.services import Actor, record_event
from orgchart.models import Person

IMPORTED = "imported"  # Request.entity_type of imported requests; entity_id is the ref
OUTCOMES = ("approved", "rejected", "cancelled", "expired", "changes_requested", "pending")
OUTCOME_EVENT = {
    "approved": "request_approved",
    "rejected": "request_rejected",
    "cancelled": "request_cancelled",
    "expired": "request_expired",
    "changes_requested": "changes_requested",
}
TASK_STATE = {
    DecisionKind.APPROVE: TaskState.APPROVED,
    DecisionKind.REJECT: TaskState.REJECTED,
    DecisionKind.REQUEST_CHANGES: TaskState.CHANGES_REQUESTED,
}


@dataclass
class PastDecision:
    step: str
    decider: str
    decision: str
    at: datetime
    on_behalf_of: str | None = None
    comment: str = ""
    role: str | None = None


@dataclass
class PastRequest:
    where: str
    ref: str
    workflow: str
    version: int | None
    requester: str
    title: str
    submitted_at: datetime
    inputs: dict[str, Any]
    decisions: list[PastDecision]
    outcome: str
    decided_at: datetime | None


@dataclass
class ImportResult:
    imported: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    people_created: list[str] = field(default_factory=list)


def read_records(text: str) -> list[tuple[str, Any]]:
    """(where, record) pairs from a JSON list or JSON lines; raises InvalidInput."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {exc.lineno}: not valid JSON ({exc.msg})",
                faults=[Fault("file", f"not valid JSON: {exc.msg}", exc.lineno)],
            ) from exc
        return [(f"record[{i}]", item) for i, item in enumerate(data)]
    records = []
    faults = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            faults.append(Fault(f"line {number}", f"not valid JSON: {exc.msg}", number))
    if faults:
        raise InvalidInput(f"{len(faults)} line(s) are not JSON", faults=faults)
    return records


def _sub(where: str, key: str) -> str:
    """``line 2: inputs`` for a JSON line's field, ``record[0].decisions[1].at`` below that."""
    if where.startswith("line ") and ":" not in where:
        return f"{where}: {key}"
    return f"{where}.{key}"


class _Checker:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def fault(self, where: str, message: str) -> None:
        self.faults.append(Fault(where, message))

    def text(self, rec: dict, key: str, where: str, *, required: bool = True) -> str:
        value = rec.get(key)
        if value is None or value == "":
            if required:
                self.fault(_sub(where, key), "is required")
            return ""
        if not isinstance(value, str) or len(value) > 300:
            self.fault(_sub(where, key), "must be a string of at most 300 characters")
            return ""
        return value

    def moment(self, rec: dict, key: str, where: str, *, required: bool = True) -> datetime | None:
        raw = rec.get(key)
        if raw is None:
            if required:
                self.fault(_sub(where, key), "is required")
            return None
        try:
            value = parse_datetime(raw) if isinstance(raw, str) else None
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            self.fault(_sub(where, key), "must be an ISO datetime with a time zone")
            return None
        return value

    def record(self, where: str, rec: Any) -> PastRequest | None:
        if not isinstance(rec, dict):
            self.fault(where, "must be a JSON object")
            return None
        before = len(self.faults)
        ref = self.text(rec, "ref", where, required=False)
        workflow = self.text(rec, "workflow", where)
        requester = self.text(rec, "requester", where)
        title = self.text(rec, "title", where, required=False)
        submitted = self.moment(rec, "submitted_at", where)
        decided_at = self.moment(rec, "decided_at", where, required=False)
        version = rec.get("workflow_version")
        if version is not None and (not isinstance(version, int) or version < 1):
            self.fault(_sub(where, "workflow_version"), "must be a positive whole number")
        inputs = rec.get("inputs", {})
        if not isinstance(inputs, dict):
            self.fault(_sub(where, "inputs"), "must be an object")
        decisions = self.decisions(rec.get("decisions", []), where, submitted)
        outcome = rec.get("outcome") or _outcome_of(decisions)
        if outcome not in OUTCOMES:
            self.fault(_sub(where, "outcome"), f"must be one of {', '.join(OUTCOMES)}")
        if len(self.faults) > before or submitted is None:
            return None
        last = decisions[-1].at if decisions else None
        return PastRequest(
            where=where,
            ref=ref,
            workflow=workflow,
            version=version,
            requester=requester,
            title=title,
            submitted_at=submitted,
            inputs=inputs,
            decisions=decisions,
            outcome=outcome,
            decided_at=(decided_at or last or submitted) if outcome != "pending" else None,
        )

    def decisions(self, raw: Any, where: str, submitted: datetime | None) -> list[PastDecision]:
        if not isinstance(raw, list):
            self.fault(_sub(where, "decisions"), "must be a list")
            return []
        out = []
        for i, item in enumerate(raw):
            at = _sub(where, f"decisions[{i}]")
            if not isinstance(item, dict):
                self.fault(at, "must be an object")
                continue
            decider = self.text(item, "decider", at)
            step = self.text(item, "step", at)
            moment = self.moment(item, "at", at)
            decision = item.get("decision")
            if decision not in DecisionKind.values:
                self.fault(_sub(at, "decision"), f"must be one of {', '.join(DecisionKind.values)}")
            if moment and submitted and moment < submitted:
                self.fault(_sub(at, "at"), "is before the request was submitted")
            if decider and step and moment and decision in DecisionKind.values:
                out.append(
                    PastDecision(
                        step=step,
                        decider=decider,
                        decision=decision,
                        at=moment,
                        on_behalf_of=self.text(item, "on_behalf_of", at, required=False) or None,
                        comment=str(item.get("comment") or "")[:10_000],
                        role=self.text(item, "role", at, required=False) or None,
                    )
                )
        return sorted(out, key=lambda d: d.at)


def _outcome_of(decisions: list[PastDecision]) -> str:
    if not decisions:
        return "pending"
    kinds = {d.decision for d in decisions}
    if DecisionKind.REJECT in kinds:
        return "rejected"
    if decisions[-1].decision == DecisionKind.REQUEST_CHANGES:
        return "changes_requested"
    return "approved"


def parse_history(text: str) -> list[PastRequest]:
    """Every record checked; InvalidInput with every located fault, or the requests."""
    checker = _Checker()
    parsed = [checker.record(where, rec) for where, rec in read_records(text)]
    if checker.faults:
        raise InvalidInput(f"{len(checker.faults)} fault(s) in the file", faults=checker.faults)
    return [p for p in parsed if p is not None]


def _resolve(
    past: list[PastRequest], *, create_missing_people: bool
) -> tuple[dict[str, Person], dict[tuple[str, int | None], WorkflowVersion], list[str]]:
    names = {p.requester for p in past}
    for p in past:
        for d in p.decisions:
            names.add(d.decider)
            if d.on_behalf_of:
                names.add(d.on_behalf_of)
    people = {person.username: person for person in Person.objects.filter(username__in=names)}
    missing = sorted(names - set(people))
    faults = []
    if missing and not create_missing_people:
        faults += [
            Fault(p.where, f"no person {name!r} (use --create-missing-people for people who left)")
            for p in past
            for name in sorted(
                {
                    p.requester,
                    *(d.decider for d in p.decisions),
                    *(d.on_behalf_of for d in p.decisions if d.on_behalf_of),
                }
                & set(missing)
            )
        ]
    versions: dict[tuple[str, int | None], WorkflowVersion] = {}
    for p in past:
        key = (p.workflow, p.version)
        if key in versions:
            continue
        workflow = Workflow.objects.filter(key=p.workflow).first()
        found = None
        if workflow is not None:
            found = (
                workflow.versions.filter(number=p.version).first()
                if p.version
                else workflow.versions.order_by("-number").first()
            )
        if found is None:
            what = f"{p.workflow} v{p.version}" if p.version else p.workflow
            faults.append(Fault(f"{p.where}.workflow", f"no published workflow {what}"))
        else:
            versions[key] = found
    if faults:
        raise InvalidInput(f"{len(faults)} fault(s) in the file", faults=faults)
    return people, versions, missing


def import_history(text: str, *, create_missing_people: bool = False) -> ImportResult:
    """Load every record of ``text`` (see the module docstring), or nothing."""
    past = sorted(parse_history(text), key=lambda p: p.submitted_at)
    result = ImportResult()
    with transaction.atomic():
        people, versions, missing = _resolve(past, create_missing_people=create_missing_people)
        for username in missing:
            people[username] = Person.objects.create(username=username, is_active=False)
            people[username].set_unusable_password()
            people[username].save(update_fields=["password"])
            result.people_created.append(username)
        for p in past:
            if p.ref and Request.objects.filter(entity_type=IMPORTED, entity_id=p.ref).exists():
                result.skipped.append(p.ref)
                continue
            result.imported.append(_load(p, versions[(p.workflow, p.version)], people).pk)
    return result


def _snapshot(request: Request) -> dict[str, Any]:
    return {
        "state": request.state,
        "current_step": request.current_step or None,
        "round": request.round,
        "decided_at": request.decided_at,
    }


def _load(p: PastRequest, version: WorkflowVersion, people: dict[str, Person]) -> Request:
    request = Request.objects.create(
        workflow=version.workflow,
        workflow_version=version,
        requester=people[p.requester],
        title=p.title,
        inputs=p.inputs,
        entity_type=IMPORTED,
        entity_id=p.ref,
    )
    # auto_now_add stamped today: the final save() writes the original time back.
    request.created_at = p.submitted_at
    request.start()
    request.current_step = p.decisions[0].step if p.decisions else ""

    def event(event_type: str, actor: Actor, at: datetime, **payload: Any) -> None:
        record_event(
            event_type=event_type,
            actor=actor,
            request_id=request.pk,
            workflow_key=version.workflow.key,
            workflow_version=version.number,
            payload={**payload, "ref": p.ref},
            snapshot=_snapshot(request),
            inputs=p.inputs,
            at=at,
            imported=True,
        )

    event("request_submitted", Actor(p.requester, via="import"), p.submitted_at, title=p.title)
    previous = p.submitted_at
    for d in p.decisions:
        task = _past_task(request, d, people, created=previous)
        request.current_step = d.step
        actor = Actor(d.decider, role=d.role, on_behalf_of=d.on_behalf_of, via="import")
        event(
            "task_decided",
            actor,
            d.at,
            task=task.pk,
            step=d.step,
            assignee=d.decider,
            on_behalf_of=d.on_behalf_of,
            decision=d.decision,
            comment=d.comment,
        )
        previous = d.at
    if p.outcome != "pending":
        _finish(request, p.outcome)
        request.decided_at = p.decided_at
        last = p.decisions[-1] if p.decisions else None
        who = (
            Actor(p.requester, via="import")
            if p.outcome == "cancelled" or last is None
            else Actor(last.decider, on_behalf_of=last.on_behalf_of, via="import")
        )
        if p.outcome == "expired":
            who = Actor("system", via="import")
        event(OUTCOME_EVENT[p.outcome], who, p.decided_at or previous)
    request.save()
    Request.objects.filter(pk=request.pk).update(updated_at=p.decided_at or previous)
    return request


def _finish(request: Request, outcome: str) -> None:
    {
        "approved": request.approve,
        "rejected": request.reject,
        "cancelled": request.cancel,
        "expired": request.expire,
        "changes_requested": request.send_back,
    }[outcome]()


def _past_task(
    request: Request, d: PastDecision, people: dict[str, Person], *, created: datetime
) -> Task:
    task = Task.objects.create(
        request=request,
        step_id=d.step,
        assignee=people[d.decider],
        on_behalf_of=people[d.on_behalf_of] if d.on_behalf_of else None,
        role=d.role or "",
        decided_at=d.at,
    )
    {
        TaskState.APPROVED: task.approve,
        TaskState.REJECTED: task.reject,
        TaskState.CHANGES_REQUESTED: task.request_changes,
    }[TASK_STATE[DecisionKind(d.decision)]]()
    task.save()
    Task.objects.filter(pk=task.pk).update(created_at=created)
    decision = Decision.objects.create(
        task=task,
        request=request,
        decision=d.decision,
        comment=d.comment,
        decided_by=people[d.decider],
        on_behalf_of=people[d.on_behalf_of] if d.on_behalf_of else None,
        via=Via.SYSTEM,
    )
    Decision.objects.filter(pk=decision.pk).update(created_at=d.at)
    return task


__all__ = ["IMPORTED", "ImportResult", "RequestState", "import_history", "parse_history"]
