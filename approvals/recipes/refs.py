"""Approver references (RECIPES.md, "Approver references")."""

from __future__ import annotations

import re
from typing import Any

from .schema import ApproverRef

ROLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # orgchart.Role.name is a slug
USERNAME = re.compile(r"[\w.@+-]+")  # what Django accepts as a username
_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_ref(value: Any, *, in_escalation: bool = False) -> ApproverRef:
    """Parse one reference. Raises ValueError with a message for the author.

    ``{{ approver.manager }}`` only means something in ``escalate_to``, where
    there is an approver whose manager to find."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("an approver reference must be a non-empty string")
    raw = value.strip()
    template = _TEMPLATE.fullmatch(raw)
    if template:
        return _parse_template(raw, template.group(1), in_escalation=in_escalation)
    if "{" in raw or "}" in raw:
        raise ValueError(f"{raw!r} is not a reference: write {{{{ ... }}}} around a template")
    if raw.startswith("user:"):
        name = raw.removeprefix("user:").strip()
        if not name:
            raise ValueError(f"{raw!r} names no user: write user:USERNAME")
        if not USERNAME.fullmatch(name):
            raise ValueError(f"{raw!r}: {name!r} is not a valid username")
        return ApproverRef(kind="user", raw=raw, value=name)
    name = raw.removeprefix("role:").strip()
    if not name:
        raise ValueError(f"{raw!r} names no role: write role:NAME")
    if not ROLE_NAME.fullmatch(name):
        raise ValueError(
            f"{raw!r} is not a reference: a role name has letters, digits, _ and -; "
            "a person is user:USERNAME; a template is {{ requester.manager }}"
        )
    return ApproverRef(kind="role", raw=raw, value=name)


def _parse_template(raw: str, body: str, *, in_escalation: bool) -> ApproverRef:
    parts = [p.strip() for p in body.split(".")]
    head, rest = parts[0], parts[1:]
    if head in ("requester", "approver") and rest and all(p == "manager" for p in rest):
        if head == "approver" and not in_escalation:
            raise ValueError(
                f"{raw!r}: {{{{ approver.manager }}}} only has a meaning in escalate_to"
            )
        kind = "requester_manager" if head == "requester" else "approver_manager"
        return ApproverRef(kind=kind, raw=raw, depth=len(rest))
    if head == "inputs" and len(rest) == 1 and _FIELD.fullmatch(rest[0]):
        return ApproverRef(kind="input", raw=raw, value=rest[0])
    allowed = "requester.manager (repeatable), inputs.FIELD"
    if in_escalation:
        allowed += ", approver.manager"
    raise ValueError(f"{raw!r} is not a known reference: use {{{{ {allowed} }}}}")
