"""A request's story for people: audit events and comments, merged in time order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from approvals.models import Comment
from audit.models import AuditEvent

# Event types as people read them; unknown types fall back to their own words.
_TITLES = {
    "request_submitted": "Submitted",
    "request_resubmitted": "Resubmitted",
    "request_approved": "Request approved",
    "request_rejected": "Request rejected",
    "request_cancelled": "Cancelled",
    "request_expired": "Expired",
    "changes_requested": "Sent back for changes",
    "step_started": "Step started",
    "step_skipped": "Step skipped",
    "step_closed": "Step closed",
    "task_assigned": "Assigned",
    "task_decided": "Decision",
    "task_delegated": "Delegated",
    "task_escalated": "Escalated",
    "task_reassigned": "Reassigned",
    "reminder_sent": "Reminder sent",
    "routing_fallback": "Routed to the fallback role",
    "comment_added": "Comment",
    "attachment_added": "File attached",
}

_DECISION_WORDS = {
    "approve": "Approved",
    "reject": "Rejected",
    "request_changes": "Changes requested",
}


def _tone(event_type: str, payload: dict[str, Any]) -> str:
    """A colour family for the dot on the timeline."""
    text = f"{event_type} {payload.get('decision', '')} {payload.get('outcome', '')}"
    if "reject" in text or "expire" in text:
        return "bad"
    if "changes" in text or "escalat" in text or "cancel" in text:
        return "warn"
    if "approv" in text:
        return "good"
    return "neutral"


def _title(event: AuditEvent) -> str:
    payload = event.payload or {}
    if event.event_type == "task_decided" and payload.get("decision") in _DECISION_WORDS:
        return _DECISION_WORDS[payload["decision"]]
    if event.event_type in _TITLES:
        return _TITLES[event.event_type]
    return event.event_type.replace(".", " ").replace("_", " ").capitalize()


def _details(event: AuditEvent) -> list[str]:
    """The few payload facts worth a line: step, assignee, condition, outcome, reason."""
    payload = event.payload or {}
    kind = event.event_type
    lines: list[str] = []
    step = payload.get("step")
    if isinstance(step, str) and step:
        lines.append(f"Step {step}")
    if kind == "step_skipped" and payload.get("when"):
        lines.append(f"Condition “{payload['when']}” was false")
    elif kind in ("request_approved", "request_rejected") and payload.get("action"):
        lines.append(f"Rule: {payload.get('when') or 'always'} → {payload['action']}")
    assignee = payload.get("assignee")
    if kind in ("task_assigned", "routing_fallback", "task_escalated", "task_reassigned",
                "task_delegated") and isinstance(assignee, str) and assignee:
        lines.append(f"To {assignee}")
    behalf = payload.get("on_behalf_of")
    if kind == "task_assigned" and isinstance(behalf, str) and behalf:
        chain = [u for u in payload.get("chain") or [] if isinstance(u, str)]
        via = chain[1:-1]
        lines.append(f"On behalf of {behalf}" + (f", via {', '.join(via)}" if via else ""))
    if kind == "step_closed" and payload.get("outcome"):
        lines.append(
            f"{str(payload['outcome']).capitalize()} "
            f"({payload.get('approved', 0)} of {payload.get('needed', '?')} approvals needed)"
        )
    if kind == "attachment_added" and payload.get("filename"):
        lines.append(str(payload["filename"]))
    for key in ("reason", "error"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            lines.append(f"{key.capitalize()}: {value}")
    return lines


def build_timeline(events: list[AuditEvent], comments: list[Comment]) -> list[dict[str, Any]]:
    """Entries ``{at, title, actor, detail, comment, tone, kind}``, oldest first.

    Comments are shown from the Comment rows (the audit keeps a record that one
    was added); an event's own comment (a decision's reason) is shown with it.
    """
    entries: list[tuple[datetime, int, dict[str, Any]]] = []
    for event in events:
        if event.event_type == "comment_added":
            continue
        actor = event.actor or {}
        payload = event.payload or {}
        entries.append(
            (
                event.at,
                0,
                {
                    "kind": "event",
                    "at": event.at,
                    "title": _title(event),
                    "actor": actor.get("user") or event.actor_username or "system",
                    "on_behalf_of": actor.get("on_behalf_of") or "",
                    "via": actor.get("via") or "",
                    "detail": _details(event),
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
