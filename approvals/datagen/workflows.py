"""Generated workflows: four recipe templates, each workflow with many versions."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from string import Template
from typing import Any

from approvals.models import Workflow, WorkflowVersion
from approvals.recipes import Recipe, content_hash, parse_recipe
from approvals.recipes.cache import stored_document
from audit.hashing import GENESIS_HASH, hash_material, utc_iso
from audit.models import AuditEvent, time_ordered_uuid

from .org import Org
from .sink import Sink

_MANAGER = '''  - id: manager
    approver: "{{ requester.manager }}"
    sla: {due: ${due}h, remind_at: 75%, escalate_at: 100%}
'''

TEMPLATES: dict[str, Template] = {
    "purchase": Template(
        """workflow: ${key}
title: Purchase order ${n}
inputs:
  amount: {type: money, required: true, min: 0}
  vendor: {type: string, required: true, max_length: 200}
  reason: {type: text}
visibility: restricted
viewers: [procurement-auditors]
steps:
""" + _MANAGER + """  - id: finance
    when: amount > ${threshold}
    type: parallel
    approvers: finance-approvers-${role}
    quorum: any
"""
    ),
    "leave": Template(
        """workflow: ${key}
title: Leave request ${n}
inputs:
  start_date: {type: date, required: true}
  days: {type: integer, required: true, min: 1, max: 60}
  reason: {type: text}
steps:
""" + _MANAGER + """  - id: hr
    when: days > ${days}
    approver: hr-leave-admin-${role}
"""
    ),
    "access": Template(
        """workflow: ${key}
title: Access request ${n}
inputs:
  system: {type: choice, options: [crm, erp, payroll, warehouse], required: true}
  reason: {type: text}
steps:
""" + _MANAGER + """  - id: security
    approver: security-reviewers-${role}
    sla: {due: ${due}h, remind_at: 75%, escalate_at: 100%}
"""
    ),
    "expense": Template(
        """workflow: ${key}
title: Expense claim ${n}
inputs:
  amount: {type: money, required: true, min: 0}
  reason: {type: text}
steps:
""" + _MANAGER
    ),
}
KINDS = tuple(TEMPLATES)


@dataclass
class Version:
    """One generated version and what the request generator needs from it."""

    id: int
    number: int
    workflow_id: int
    key: str
    kind: str
    title: str
    recipe: Recipe
    threshold: int
    days: int
    role: int


@dataclass
class Flow:
    id: int
    key: str
    kind: str
    versions: list[Version]


def generate_workflows(sink: Sink, rnd: random.Random, org: Org, *, workflows: int,
                       now: datetime, tag: str) -> list[Flow]:
    flows: list[Flow] = []
    workflow_id = sink.next_id(Workflow)
    version_id = sink.next_id(WorkflowVersion)
    wf_rows: list[dict[str, Any]] = []
    v_rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i in range(workflows):
        kind = KINDS[i % len(KINDS)]
        key = f"{tag}{kind}_{i:04d}"
        flow = Flow(id=workflow_id, key=key, kind=kind, versions=[])
        role = i % org.roles_per_family
        published = now - timedelta(days=420)
        prev = GENESIS_HASH
        for number in range(1, rnd.randint(1, 8) + 1):  # many versions: about 4.5 each
            values = {
                "key": key, "n": i, "role": role, "due": 24 + 8 * (number % 6),
                "threshold": 1000 * (4 + number), "days": 5 + number,
            }
            source = TEMPLATES[kind].substitute(values)
            recipe = parse_recipe(source, known_roles=None)
            digest = content_hash(recipe)
            published += timedelta(days=rnd.randint(1, 40))
            version = Version(
                id=version_id, number=number, workflow_id=workflow_id, key=key, kind=kind,
                title=recipe.title, recipe=recipe, threshold=values["threshold"],
                days=values["days"], role=role,
            )
            flow.versions.append(version)
            v_rows.append({
                "id": version_id, "workflow_id": workflow_id, "number": number,
                "source": source, "document": stored_document(source), "content_hash": digest,
                "restricted": recipe.visibility == "restricted", "viewers": list(recipe.viewers),
                "triggers": [], "published_by_id": None, "published_at": published,
            })
            event_id = time_ordered_uuid(published, rnd)
            material = {
                "id": str(event_id), "at": utc_iso(published), "chain": f"workflow:{key}",
                "seq": number, "request_id": None, "workflow_key": key,
                "workflow_version": number, "event_type": "workflow_published",
                "actor": {"user": "system", "role": None, "on_behalf_of": None,
                          "via": "system"},
                "payload": {"content_hash": digest, "title": recipe.title,
                            "steps": len(recipe.steps)},
                "snapshot": {}, "inputs": {}, "imported": False, "prev_hash": prev,
            }
            prev = hash_material(material)
            events.append(event_row(material, event_id, published, now, prev))
            version_id += 1
        flows.append(flow)
        wf_rows.append({
            "id": workflow_id, "key": key, "title": flow.versions[-1].title,
            "description": f"Generated from the {kind} template.", "is_active": True,
            "latest_version_id": flow.versions[-1].id, "created_at": now - timedelta(days=420),
        })
        workflow_id += 1
    sink.write(Workflow, wf_rows)
    sink.write(WorkflowVersion, v_rows)
    sink.write(AuditEvent, events)
    return flows


def event_row(material: dict[str, Any], event_id: uuid.UUID, at: datetime, now: datetime,
              digest: str) -> dict[str, Any]:
    """An AuditEvent row from its hashed material (see audit.hashing.material_of)."""
    actor = material["actor"]
    return {
        "id": event_id, "at": at, "recorded_at": now, "chain": material["chain"],
        "seq": material["seq"], "request_id": material["request_id"],
        "workflow_key": material["workflow_key"],
        "workflow_version": material["workflow_version"],
        "event_type": material["event_type"], "actor": actor,
        "actor_username": actor["user"] or "",
        "on_behalf_of_username": actor["on_behalf_of"] or "",
        "payload": material["payload"], "snapshot": material["snapshot"],
        "inputs": material["inputs"], "imported": False,
        "prev_hash": material["prev_hash"], "hash": digest,
    }
