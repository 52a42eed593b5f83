"""A request's story for people: audit events and comments, merged in time order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from approvals.models import Comment
from audit.models import AuditEvent

# Event types as people read them; unknown types fall back to their own words.
_TITLES = {
    "request_submitted": "Submitted",
    "request_resubmitted": "Resubmitted with changes",
    "request_approved": "Request approved",
    "request_rejected": "Request rejected",
    "request_cancelled": "Cancelled by the requester",
    "request_expired": "Expired",
    "changes_requested": "Sent back for changes",
    "step_skipped": "Step skipped",
    "task_decided": "Decision",
    "task_delegated": "Delegated",
    "task_escalated": "Escalated",
    "task_reassigned": "Reassigned",
    "reminder_sent": "Reminder sent",
    "routing_fallback": "Routed to the fallback role",
    "attachment_added": "File attached",
}

_DECISION_WORDS = {
    "approve": "Approved",
    "reject": "Rejected",
    "request_changes": "Asked for changes",
}

_SYSTEM = {"", "system"}


def people_in(events: Iterable[AuditEvent]) -> set[str]:
    """Usernames an events' timeline names, to look their names up in one query."""
    names: set[str] = set()
    for event in events:
        actor, payload = event.actor or {}, event.payload or {}
        for value in (actor.get("user"), actor.get("on_behalf_of"), payload.get("assignee"),
                      payload.get("on_behalf_of")):
            if isinstance(value, str):
                names.add(value)
        names.update(u for u in payload.get("chain") or [] if isinstance(u, str))
    return names - _SYSTEM


def _tone(event_type: str, payload: dict[str, Any]) -> str:
    """A colour family for the dot on the timeline."""
    text = f"{event_type} {payload.get('decision', '')} {payload.get('outcome', '')}"
    if "reject" in text or "expire" in text:
        return "bad"
    if "changes" in text or "escalat" in text or "cancel" in text or "fallback" in text:
        return "warn"
    if "approv" in text:
        return "good"
    return "neutral"


def _title(event: AuditEvent, name: Any) -> str:
    payload = event.payload or {}
    kind = event.event_type
    step = payload.get("step") or ""
    if kind == "task_decided" and payload.get("decision") in _DECISION_WORDS:
        return _DECISION_WORDS[payload["decision"]]
    if kind == "task_assigned":
        return f"Assigned to {name(payload.get('assignee'))}"
    if kind == "step_started":
        return f"Step {step} started"
    if kind == "step_closed":
        return f"Step {step} {payload.get('outcome') or 'closed'}"
    if kind in _TITLES:
        return _TITLES[kind]
    return kind.replace(".", " ").replace("_", " ").capitalize()


def _details(event: AuditEvent, name: Any) -> list[str]:
    """The few payload facts worth a line: step, delegation, condition, outcome, reason."""
    payload = event.payload or {}
    kind = event.event_type
    lines: list[str] = []
    step = payload.get("step")
    if kind not in ("step_started", "step_closed") and isinstance(step, str) and step:
        lines.append(f"Step {step}")
    if kind in ("step_skipped", "step_started") and payload.get("when"):
        truth = "false" if kind == "step_skipped" else "true"
        lines.append(f"Condition “{payload['when']}” was {truth}")
    elif kind in ("request_approved", "request_rejected") and payload.get("action"):
        lines.append(f"Rule: {payload.get('when') or 'always'} → {payload['action']}")
    assignee = payload.get("assignee")
    if kind in ("routing_fallback", "task_escalated", "task_reassigned", "task_delegated") and (
        isinstance(assignee, str) and assignee
    ):
        lines.append(f"To {name(assignee)}")
    behalf = payload.get("on_behalf_of")
    if kind == "task_assigned" and isinstance(behalf, str) and behalf:
        via = [name(u) for u in (payload.get("chain") or [])[1:-1] if isinstance(u, str)]
        lines.append(f"On behalf of {name(behalf)}" + (f", via {', '.join(via)}" if via else ""))
    if kind == "step_closed" and payload.get("needed") is not None:
        lines.append(f"{payload.get('approved', 0)} of {payload['needed']} approvals needed")
    if kind == "attachment_added" and payload.get("filename"):
        lines.append(str(payload["filename"]))
    reason = payload.get("reason")
    if reason == "no step left":
        lines.append("Every step is done")
    elif isinstance(reason, str) and reason:
        lines.append(f"Reason: {reason}")
    if isinstance(payload.get("error"), str) and payload["error"]:
        lines.append(f"Error: {payload['error']}")
    return lines


def build_timeline(
    events: list[AuditEvent], comments: list[Comment], names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Entries ``{at, title, actor, detail, comment, tone, kind}``, oldest first.

    Comments are shown from the Comment rows (the audit keeps a record that one
    was added); a decision's comment is shown with the decision. ``names`` maps
    usernames to display names (the audit stores usernames).
    """
    names = names or {}

    def name(username: Any) -> str:
        return names.get(username, username) if isinstance(username, str) else "nobody"

    entries: list[tuple[datetime, int, dict[str, Any]]] = []
    for event in events:
        if event.event_type == "comment_added":
            continue
        actor = event.actor or {}
        payload = event.payload or {}
        user = actor.get("user") or event.actor_username or ""
        entries.append(
            (
                event.at,
                0,
                {
                    "kind": "event",
                    "at": event.at,
                    "title": _title(event, name),
                    "actor": "" if user in _SYSTEM else name(user),
                    "on_behalf_of": name(actor["on_behalf_of"]) if actor.get("on_behalf_of")
                    else "",
                    "via": actor.get("via") or "",
                    "detail": _details(event, name),
                    "comment": payload.get("comment") or "",
                    "tone": _tone(event.event_type, payload),
                },
            )
        )
    for comment in comments:
        entries.append(
            (
                comment.created_at,
                1,
                {
                    "kind": "comment",
                    "at": comment.created_at,
                    "title": "Comment",
                    "actor": comment.author.display_name,
                    "on_behalf_of": "",
                    "via": "",
                    "detail": [],
                    "comment": comment.text,
                    "tone": "comment",
                },
            )
        )
    entries.sort(key=lambda e: (e[0], e[1]))
    return [entry for _, _, entry in entries]
