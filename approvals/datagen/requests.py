"""Generated requests: open ones with their open tasks and SLA clocks, finished ones
with their decisions, and for each its audit chain, hashed with audit.hashing.

Each request is told as the engine would have written it (see
approvals.services.flow): submitted, steps started or skipped, tasks assigned
(through absences to delegates), decided, steps closed, request finished. The
events carry the same payload and snapshot shapes as the engine's, so
audit_verify, the timeline pages and replay read them like real ones.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from approvals.models import Decision, Request, Task
from audit.hashing import GENESIS_HASH, hash_material, utc_iso
from audit.models import AuditEvent, time_ordered_uuid

from .org import Org
from .sink import Sink
from .workflows import Flow, Version, event_row

SYSTEM = {"user": "system", "role": None, "on_behalf_of": None, "via": "system"}
SLA_ACTOR = {"user": "system", "role": None, "on_behalf_of": None, "via": "sla"}
VENDORS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay")
SYSTEMS = ("crm", "erp", "payroll", "warehouse")
CHUNK = 5000


def _iso(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment else None


class RequestGenerator:
    """Builds rows for requests, their tasks, decisions and audit events, and writes
    them in chunks (one COPY per table per chunk)."""

    def __init__(self, sink: Sink, rnd: random.Random, org: Org, flows: list[Flow],
                 now: datetime) -> None:
        self.sink, self.rnd, self.org, self.flows, self.now = sink, rnd, org, flows, now
        self.request_id = sink.next_id(Request)
        self.task_id = sink.next_id(Task)
        self.decision_id = sink.next_id(Decision)
        self._reset()
        self.bench_quota = {"bench_inbox": 120, "bench_small": 10}

    def _reset(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def flush(self) -> None:
        with transaction.atomic():  # one commit per chunk
            self.sink.write(Request, self.requests)
            self.sink.write(Task, self.tasks)
            self.sink.write(Decision, self.decisions)
            self.sink.write(AuditEvent, self.events)
        self._reset()

    def run(self, *, finished: int, open_: int, progress: Any = None) -> None:
        for n in range(finished + open_):
            self.one(live=n >= finished)
            if len(self.requests) >= CHUNK:
                self.flush()
                if progress:
                    progress(n + 1, finished + open_)
        self.flush()

    # --- one request ------------------------------------------------------------

    def one(self, *, live: bool) -> None:
        rnd = self.rnd
        flow = rnd.choice(self.flows)
        # Most requests run on the latest version; older ones on earlier versions.
        version = flow.versions[-1] if rnd.random() < 0.6 else rnd.choice(flow.versions)
        requester = rnd.choice(self.org.requesters)
        inputs = self._inputs(version)
        rid = self.request_id
        self.request_id += 1
        story = _Story(self, rid, version, requester, inputs)
        steps = version.recipe.steps
        applies = [self._applies(version, step.id, inputs) for step in steps]
        if live:
            last = max(i for i, ok in enumerate(applies) if ok)
            at_step = last if last > 0 and rnd.random() < 0.35 else 0
            earliest = 5 * 3600 if at_step else 60
            start = self.now - timedelta(seconds=rnd.uniform(earliest, 20 * 3600))
            story.run(applies, until=at_step, start=start, outcome="open")
        else:
            start = self.now - timedelta(days=rnd.uniform(2, 365))
            roll = rnd.random()
            outcome = "approved" if roll < 0.85 else "rejected" if roll < 0.95 else "cancelled"
            story.run(applies, until=len(steps), start=start, outcome=outcome)
        self.requests.append(story.row())

    def _applies(self, version: Version, step_id: str, inputs: dict[str, Any]) -> bool:
        if step_id == "finance":
            return float(inputs["amount"]) > version.threshold
        if step_id == "hr":
            return inputs["days"] > version.days
        return True

    def _inputs(self, version: Version) -> dict[str, Any]:
        rnd = self.rnd
        reason = {"reason": "generated"} if rnd.random() < 0.5 else {}
        if version.kind in ("purchase", "expense"):
            amount = round(10 ** rnd.uniform(1.5, 5.3), 2)
            data: dict[str, Any] = {"amount": f"{amount:.2f}"}
            if version.kind == "purchase":
                data["vendor"] = rnd.choice(VENDORS)
            return {**data, **reason}
        if version.kind == "leave":
            day = self.now.date() + timedelta(days=rnd.randint(-300, 60))
            return {"start_date": day.isoformat(), "days": rnd.randint(1, 20), **reason}
        return {"system": rnd.choice(SYSTEMS), **reason}

    # --- who gets a task ----------------------------------------------------------

    def approvers(self, version: Version, step_id: str, requester: int) -> list[tuple[int, str]]:
        """(person meant, role) per task of the step, as resolution picks them."""
        org = self.org
        if step_id == "manager":
            return [(org.manager[requester] or requester, "")]
        family = {"finance": "finance-approvers", "hr": "hr-leave-admin",
                  "security": "security-reviewers"}[step_id]
        role = f"{family}-{version.role}"
        members = [m for m in org.role_members[role] if m != requester]
        if not members:
            return [(org.manager[requester] or requester, role)]
        if step_id == "finance":  # approvers: ROLE in a parallel step: every member
            return [(m, role) for m in members]
        return [(self.rnd.choice(members), role)]

    def route(self, meant: int, live: bool) -> tuple[int, int | None, list[str], dict[str, Any]]:
        """(assignee, on_behalf_of, chain of usernames, resolution). Absences count for
        open tasks only (past absences are not replayed)."""
        org = self.org
        if not live or meant not in org.away:
            return meant, None, [], {"notes": []}
        chain = [meant]
        while chain[-1] in org.away:
            nxt = org.away[chain[-1]]
            if nxt in chain or len(chain) > 5:
                admin = org.role_members["approval-admins"][0]
                names = [org.username[p] for p in chain] + [org.username[nxt]]
                error = "delegation_cycle" if nxt in chain else "delegation_too_deep"
                fallback = {"error": error, "message": f"{error}: {' -> '.join(names)}",
                            "reference": "{{ requester.manager }}", "chain": names,
                            "role": "approval-admins"}
                return admin, None, [], {"notes": ["picked from approval-admins"],
                                         "fallback": fallback}
            chain.append(nxt)
        names = [org.username[p] for p in chain]
        notes = [f"{a} is away; {b} acts for them" for a, b in itertools.pairwise(names)]
        return chain[-1], meant, names, {"notes": notes}


class _Story:
    """One request's life, appended event by event to its hash chain."""

    def __init__(self, gen: RequestGenerator, rid: int, version: Version, requester: int,
                 inputs: dict[str, Any]) -> None:
        self.gen, self.rid, self.version, self.requester = gen, rid, version, requester
        self.inputs = inputs
        self.state = "created"
        self.step = ""
        self.step_started: datetime | None = None
        self.decided_at: datetime | None = None
        self.seq = 0
        self.prev = GENESIS_HASH
        self.at: datetime = gen.now
        self.created: datetime = gen.now
        self.chain = f"request:{rid}"
        self.tasks: list[dict[str, Any]] = []  # the tasks written so far, in id order

    def _brief(self, task: dict[str, Any]) -> dict[str, Any]:
        org = self.gen.org
        behalf = task["on_behalf_of_id"]
        return {"id": task["id"], "step": task["step_id"],
                "assignee": org.username[task["assignee_id"]],
                "on_behalf_of": org.username[behalf] if behalf else None,
                "state": task["state"]}

    def log(self, event_type: str, actor: dict[str, Any], payload: dict[str, Any]) -> None:
        gen = self.gen
        self.seq += 1
        event_id = time_ordered_uuid(self.at, gen.rnd)
        material = {
            "id": str(event_id), "at": utc_iso(self.at), "chain": self.chain, "seq": self.seq,
            "request_id": self.rid, "workflow_key": self.version.key,
            "workflow_version": self.version.number, "event_type": event_type,
            "actor": actor, "payload": payload,
            # The engine's snapshot (services._common.snapshot): the request and the
            # tasks of its round as they stand right after the event.
            "snapshot": {"state": self.state, "current_step": self.step or None, "round": 0,
                         "decided_at": _iso(self.decided_at), "inputs": self.inputs,
                         "tasks": [self._brief(t) for t in self.tasks]},
            "inputs": self.inputs, "imported": False, "prev_hash": self.prev,
        }
        self.prev = hash_material(material)
        gen.events.append(event_row(material, event_id, self.at, gen.now, self.prev))
        # Events of one request are microseconds apart, as in one transaction.
        self.at += timedelta(microseconds=137)

    def person(self, pid: int, via: str = "web", role: str = "",
               behalf: int | None = None) -> dict[str, Any]:
        org = self.gen.org
        return {"user": org.username[pid], "role": role or None,
                "on_behalf_of": org.username[behalf] if behalf else None, "via": via}

    def run(self, applies: list[bool], *, until: int, start: datetime, outcome: str) -> None:
        gen, rnd = self.gen, self.gen.rnd
        live = outcome == "open"
        self.at = self.created = start
        title = f"{self.version.title} — {gen.org.display[self.requester]}"
        self.title = title
        self.log("request_submitted", self.person(self.requester),
                 {"title": title, "submitted_by": None})
        steps = self.version.recipe.steps
        for index, step in enumerate(steps):
            seen = self._seen(step.when)
            if not applies[index]:
                self.log("step_skipped", SYSTEM, {"step": step.id, "when": step.when,
                                                   "seen": seen, "error": None})
                continue
            is_current = live and index == until
            self.state, self.step, self.step_started = "pending", step.id, self.at
            meant = gen.approvers(self.version, step.id, self.requester)
            tasks = [self._task(step, m, role, live=is_current) for m, role in meant]
            self.log("step_started", SYSTEM, {
                "step": step.id, "kind": step.kind, "quorum": str(step.quorum),
                "when": step.when, "seen": seen, "tasks": len(tasks)})
            for task, notes in tasks:
                self.tasks.append(task)  # saved before its events, as new_task does
                if "fallback" in task["resolution"]:
                    fallback = task["resolution"]["fallback"]
                    self.log("routing_fallback", SYSTEM, {**self._info(task), "fallback": fallback})
                self.log("task_assigned", SYSTEM, {**self._info(task), "notes": notes})
            if is_current:
                self._sla(tasks)
                return
            # Decide: the first task decides (quorum any / a single approver).
            # Open requests decided their earlier steps within hours, so the current
            # step's clock started in the past.
            self.at += timedelta(seconds=rnd.uniform(300, (4 if live else 30) * 3600))
            task = tasks[0][0]
            if outcome == "cancelled":
                return self._cancel([t for t, _ in tasks])
            reject = outcome == "rejected" and len(tasks) == 1 and (
                index == until - 1 or not any(applies[index + 1:])
                or rnd.random() < 0.5)
            decision = "reject" if reject else "approve"
            comment = "Not within budget." if reject else ""
            task["state"] = "rejected" if reject else "approved"
            task["decided_at"] = self.at
            task["sla_next_at"] = None
            gen.decisions.append({
                "id": gen.decision_id, "task_id": task["id"], "request_id": self.rid,
                "decision": decision, "comment": comment, "decided_by_id": task["assignee_id"],
                "on_behalf_of_id": task["on_behalf_of_id"], "via": "web",
                "created_at": self.at})
            gen.decision_id += 1
            self.log("task_decided",
                     self.person(task["assignee_id"], role=task["role"],
                                 behalf=task["on_behalf_of_id"]),
                     {**self._info(task), "decision": decision, "comment": comment})
            cancelled = []
            for other, _ in tasks[1:]:
                other.update(state="cancelled", decided_at=self.at, sla_next_at=None)
                cancelled.append(other["id"])
            self.log("step_closed", SYSTEM, {
                "step": step.id, "outcome": "rejected" if reject else "approved",
                "quorum": str(step.quorum), "tasks": len(tasks), "needed": 1,
                "approved": 0 if reject else 1, "rejected": 1 if reject else 0,
                "cancelled_tasks": cancelled})
            if reject:
                return self._finish(False, {"step": step.id,
                                            "reason": "quorum can no longer be reached"})
        if not live:
            self._finish(True, {"reason": "no step left"})

    def _finish(self, approved: bool, rule: dict[str, Any]) -> None:
        self.state = "approved" if approved else "rejected"
        self.step = ""
        self.decided_at = self.at
        self.log("request_approved" if approved else "request_rejected", SYSTEM,
                 {"cancelled_tasks": [], **rule})

    def _cancel(self, tasks: list[dict[str, Any]]) -> None:
        for task in tasks:
            task.update(state="cancelled", decided_at=self.at, sla_next_at=None)
        self.state, self.step, self.decided_at = "cancelled", "", self.at
        self.log("request_cancelled", self.person(self.requester),
                 {"comment": "", "cancelled_tasks": [t["id"] for t in tasks]})

    def _seen(self, when: str | None) -> dict[str, Any]:
        if not when:
            return {}
        name = when.split()[0]
        value = self.inputs[name]
        return {name: float(value) if isinstance(value, str) else value}

    def _task(self, step: Any, meant: int, role: str, *, live: bool) -> tuple[dict[str, Any], list]:
        gen = self.gen
        assignee, behalf, chain, resolution = gen.route(meant, live)
        if live and len(gen.org.bench) and step.kind != "parallel":
            for name, left in gen.bench_quota.items():
                bench = gen.org.bench[name]
                if left and bench != self.requester:
                    gen.bench_quota[name] -= 1
                    assignee, behalf, chain = bench, None, []
                    resolution = {"notes": ["benchmark fixture: assigned to " + name]}
                    break
        sla = step.sla
        due = remind = escalate = None
        if sla is not None:
            due = self.at + sla.due
            remind = self.at + sla.due * (sla.remind_at or 0.75) if sla.remind_at else None
            escalate = self.at + sla.due * (sla.escalate_at or 1.0) if sla.escalate_at else None
        task = {
            "id": gen.task_id, "request_id": self.rid, "step_id": step.id, "round": 0,
            "assignee_id": assignee, "on_behalf_of_id": behalf, "delegation_chain": chain,
            "resolution": resolution, "role": role, "replaces_id": None, "state": "open",
            "created_at": self.at, "decided_at": None, "due_at": due, "remind_at": remind,
            "escalate_at": escalate, "auto_action_at": None, "reminded_at": None,
            "sla_next_at": None,
        }
        gen.task_id += 1
        gen.tasks.append(task)
        return task, list(resolution["notes"])

    def _sla(self, tasks: list[tuple[dict[str, Any], list]]) -> None:
        """An open step: clocks are running; a reminder already went out where its
        rung passed, so the next rung is always ahead of now (the sweep keeps it so)."""
        now = self.gen.now
        for task, _ in tasks:
            if task["remind_at"] and task["remind_at"] <= now:
                task["reminded_at"] = task["remind_at"]
                self.at = max(self.at, task["remind_at"])
                self.log("reminder_sent", SLA_ACTOR, self._info(task))
            rungs = [t for t in (task["escalate_at"],) if t]
            if task["remind_at"] and not task["reminded_at"]:
                rungs.append(task["remind_at"])
            task["sla_next_at"] = min(rungs) if rungs else None

    def _info(self, task: dict[str, Any]) -> dict[str, Any]:
        org = self.gen.org
        behalf = task["on_behalf_of_id"]
        return {
            "task": task["id"], "step": task["step_id"],
            "assignee": org.username[task["assignee_id"]],
            "on_behalf_of": org.username[behalf] if behalf else None,
            "chain": task["delegation_chain"], "role": task["role"] or None,
            "due_at": _iso(task["due_at"]),
        }

    def row(self) -> dict[str, Any]:
        return {
            "id": self.rid, "workflow_id": self.version.workflow_id,
            "workflow_version_id": self.version.id, "requester_id": self.requester,
            "submitted_by_id": None, "title": self.title, "inputs": self.inputs,
            "state": self.state, "current_step": self.step,
            "step_started_at": self.step_started, "round": 0, "entity_type": "",
            "entity_id": "", "created_at": self.created, "updated_at": self.at,
            "decided_at": self.decided_at,
        }
