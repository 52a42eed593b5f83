"""The normalized, JSON-ready form of a recipe, and its content hash.

Two recipes that mean the same hash the same: key order, formatting, YAML or
JSON, ``role:legal`` or ``legal``, ``timeout: 48h, on_timeout: escalate`` or
the ``sla`` block it stands for. Inputs and steps keep their written order (it
is the form's order and the run order); viewers and triggers are sets.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .schema import SLA, ApproverRef, InputSpec, Recipe, Step


def canonical_ref(ref: ApproverRef) -> str:
    if ref.kind == "role":
        return ref.value
    if ref.kind == "user":
        return f"user:{ref.value}"
    if ref.kind == "input":
        return f"{{{{ inputs.{ref.value} }}}}"
    head = "requester" if ref.kind == "requester_manager" else "approver"
    return "{{ " + head + ".manager" * ref.depth + " }}"


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The recipe as JSON-ready data (durations in seconds, shares as fractions).
    The admin diff, the API and ``content_hash`` use it."""
    return {
        "workflow": recipe.workflow,
        "title": recipe.title,
        "description": recipe.description,
        "inputs": [_input(spec) for spec in recipe.inputs],
        "visibility": recipe.visibility,
        "viewers": sorted(recipe.viewers),
        "triggers": sorted(recipe.triggers),
        "fallback_role": recipe.fallback_role,
        "steps": [_step(step) for step in recipe.steps],
    }


def content_hash(recipe: Recipe) -> str:
    """SHA-256 (hex) of the canonical JSON of ``recipe_to_dict``."""
    text = json.dumps(
        recipe_to_dict(recipe), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _input(spec: InputSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type,
        "required": spec.required,
        "min": spec.min,
        "max": spec.max,
        "max_length": spec.max_length,
        "label": spec.label,
        "help": spec.help,
        "default": spec.default,
        "options": list(spec.options),
    }


def _step(step: Step) -> dict[str, Any]:
    return {
        "id": step.id,
        "kind": step.kind,
        "when": step.when,
        "action": step.action,
        "branches": [canonical_ref(ref) for ref in step.branches],
        "approvers": canonical_ref(step.approvers) if step.approvers else None,
        "quorum": str(step.quorum),
        "sla": _sla(step.sla) if step.sla else None,
    }


def _sla(sla: SLA) -> dict[str, Any]:
    return {
        "due": int(sla.due.total_seconds()),
        "remind_at": sla.remind_at,
        "escalate_at": sla.escalate_at,
        "escalate_to": canonical_ref(sla.escalate_to) if sla.escalate_to else None,
        "auto_action_at": sla.auto_action_at,
        "auto_action": sla.auto_action,
    }
