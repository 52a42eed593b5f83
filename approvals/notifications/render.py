"""Turn outbox rows (a message and whatever collapsed into it) into one channel-neutral
message: a subject, lines of text, links and the decisions the recipient may take."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .choices import ACTIONABLE_KINDS, Kind
from .links import action_url
from .models import Outbox


@dataclass(frozen=True)
class Action:
    decision: str
    label: str
    url: str  # a one-click link to the confirmation page


@dataclass
class Message:
    subject: str
    headline: str
    lines: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    # The task the actions decide, and one-click links for each decision.
    task_id: int | None = None
    actions: list[Action] = field(default_factory=list)
    # Headlines of earlier updates this message also carries (collapsed).
    updates: list[str] = field(default_factory=list)


LABELS = {"approve": "Approve", "reject": "Reject", "request_changes": "Request changes"}
LABELS_PAST = {
    "approve": "approved",
    "reject": "rejected",
    "request_changes": "asked for changes on",
}


def request_title(req: dict[str, Any]) -> str:
    return req.get("title") or f"{req.get('workflow_title') or req.get('workflow')} #{req['id']}"


def headline(payload: dict[str, Any], recipient_id: int | None = None) -> str:
    """One line saying what happened, for one row's payload, to its recipient."""
    kind = payload.get("event")
    req = payload.get("request") or {}
    task = payload.get("task") or {}
    extra = payload.get("extra") or {}
    title = request_title(req) if req else "a request"
    who = req.get("requester_name", "Someone")
    if kind == Kind.TASK_ASSIGNED:
        text = f"{who} asks for your approval: {title}"
        if task.get("on_behalf_of_name"):
            text += f" (on behalf of {task['on_behalf_of_name']})"
        return text
    if kind == Kind.TASK_REMINDER:
        return f"Reminder: {title} is waiting for your decision"
    if kind == Kind.TASK_ESCALATED:
        if recipient_id is not None and task.get("assignee_id") not in (None, recipient_id):
            return f"{title} was escalated to {task.get('assignee_name')}"
        behalf = task.get("on_behalf_of_name")
        return f"Escalated to you: {title}" + (f" (was waiting for {behalf})" if behalf else "")
    if kind == Kind.TASK_REASSIGNED:
        return f"Reassigned to you: {title}"
    if kind == Kind.CHANGES_REQUESTED:
        by = extra.get("decided_by_name")
        return f"{by} asks for changes on {title}" if by else f"Changes requested on {title}"
    if kind == Kind.REQUEST_FINISHED:
        state = extra.get("outcome") or req.get("state", "finished")
        return f"{title} was {str(state).replace('_', ' ')}"
    if kind == Kind.COMMENT_ADDED:
        author = extra.get("author_name") or extra.get("author") or "Someone"
        return f"{author} commented on {title}"
    return f"Update on {title}"


def _detail_lines(payload: dict[str, Any]) -> list[str]:
    extra = payload.get("extra") or {}
    lines = []
    for key in ("comment", "text", "reason"):
        if extra.get(key) and isinstance(extra[key], str):
            lines.append(f"“{extra[key]}”")
    return lines


def _facts(payload: dict[str, Any]) -> list[tuple[str, str]]:
    req = payload.get("request") or {}
    task = payload.get("task") or {}
    facts = [("Workflow", str(req.get("workflow_title") or req.get("workflow", "")))]
    facts.append(("Requested by", str(req.get("requester_name", ""))))
    for name, value in list((req.get("inputs") or {}).items())[:8]:
        facts.append((name.replace("_", " ").capitalize(), str(value)))
    if task.get("due_at"):
        facts.append(("Due", str(task["due_at"]).replace("T", " ")[:16] + " UTC"))
    return facts


def build_message(
    row: Outbox, merged: list[Outbox], *, via: str, login_required: bool = False
) -> Message:
    """The message for ``row`` plus the rows collapsed into it, oldest first."""
    if row.kind == Kind.REMINDER_DIGEST:
        return _digest_message(row, via=via, login_required=login_required)
    rows = sorted([row, *merged], key=lambda r: (r.created_at, r.pk))
    latest = rows[-1].payload
    msg = Message(subject="", headline=headline(latest, row.recipient_id))
    msg.lines = _detail_lines(latest)
    msg.facts = _facts(latest)
    req = latest.get("request") or {}
    task = latest.get("task") or {}
    msg.url = task.get("url") or req.get("url", "")
    if len(rows) > 1:
        msg.updates = [headline(r.payload, row.recipient_id) for r in rows[:-1]]
        msg.subject = f"{len(rows)} updates: {msg.headline}"
    else:
        msg.subject = msg.headline
    # Buttons only when the latest news asks this person to decide.
    if (
        rows[-1].kind in ACTIONABLE_KINDS
        and task.get("id")
        and row.recipient_id is not None
        and task.get("assignee_id") == row.recipient_id
    ):
        msg.task_id = int(task["id"])
        msg.actions = [
            Action(
                decision=d,
                label=LABELS[d],
                url=action_url(
                    task_id=msg.task_id,
                    person_id=row.recipient_id,
                    decision=d,
                    via=via,
                    login_required=login_required,
                ),
            )
            for d in ("approve", "reject", "request_changes")
        ]
    return msg


def _digest_message(row: Outbox, *, via: str, login_required: bool) -> Message:
    items = row.payload.get("items") or []
    n = len(items)
    msg = Message(
        subject=f"{n} approval{'s' if n != 1 else ''} waiting for you",
        headline=f"{n} approval{'s' if n != 1 else ''} waiting for you",
        url=row.payload.get("inbox_url", ""),
    )
    msg.lines = [f"{headline(item)} — {(item.get('task') or {}).get('url', '')}" for item in items]
    return msg
