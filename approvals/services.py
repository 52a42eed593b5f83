"""The engine: the one way requests, tasks and decisions change.

Every function here runs in one transaction, locks the request row first
(``select_for_update``), moves states only through django-fsm transitions,
writes its audit events in the same transaction and queues anything that
leaves the process with ``transaction.on_commit``. (Signatures fixed; bodies
being implemented.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from approvals.choices import Via
from approvals.models import Request, Task, WorkflowVersion
from orgchart.models import Person


def publish(*, source: str, author: Person | None = None) -> tuple[WorkflowVersion, bool]:
    """Validate and publish a recipe (YAML or JSON text). Returns the version and
    whether it is new (identical content publishes nothing). Raises InvalidInput
    with ``faults`` (path, line, message)."""
    raise NotImplementedError


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
    raise NotImplementedError


def decide(
    *, task_id: int, actor: Person, decision: str, comment: str = "", via: str = Via.WEB
) -> Task:
    """Record the assignee's decision (approve / reject / request_changes) and move
    the request on. Conflict if the task is closed; NotAllowed if not the assignee."""
    raise NotImplementedError


def delegate(*, task_id: int, actor: Person, to: Person, comment: str = "") -> Task:
    """Hand an open task to another person; returns the new task."""
    raise NotImplementedError


def cancel(*, request_id: int, actor: Person, comment: str = "") -> Request:
    """The requester withdraws a pending (or sent-back) request."""
    raise NotImplementedError


def resubmit(*, request_id: int, actor: Person, inputs: dict[str, Any]) -> Request:
    """The requester sends a request back after changes were requested; it runs
    again from the first step with the new inputs."""
    raise NotImplementedError


def escalate(*, task_id: int, at: datetime | None = None) -> Task | None:
    """SLA: reassign an open task to its escalation target (on behalf of the original)."""
    raise NotImplementedError


def expire(*, request_id: int, at: datetime | None = None) -> Request | None:
    """SLA: expire a pending request and its open tasks."""
    raise NotImplementedError


def add_comment(*, request_id: int, author: Person, text: str) -> Any:
    """A question or an answer on a request's thread; no state change. Participants
    and viewers may comment; the other side is notified."""
    raise NotImplementedError


def add_attachment(*, request_id: int, author: Person, uploaded: Any) -> Any:
    """Attach evidence (an UploadedFile) to a request, within the size and type limits
    (settings.APPROVALS["ATTACHMENT_MAX_BYTES"], ["ATTACHMENT_TYPES"]); InvalidInput beyond."""
    raise NotImplementedError


def auto_decide(*, task_id: int, decision: str, rule: str, at: datetime | None = None) -> Task | None:
    """SLA: the system decides a task (auto_action approve / reject); idempotent."""
    raise NotImplementedError


def remind(*, task_id: int, at: datetime | None = None) -> Task | None:
    """SLA: send the assignee a reminder once; idempotent."""
    raise NotImplementedError


def sla_act(*, task_id: int, now: datetime) -> list[str]:
    """SLA: act on every rung of this open task that is due at ``now`` (remind,
    escalate, auto action, expire), once each, and move ``sla_next_at`` on.
    Returns what it did. The caller (the sweep) holds no lock; this locks the
    request row first, like every service."""
    raise NotImplementedError


def reassign_open_tasks(*, from_person: Person, reason: str, to: Person | None = None) -> list[Task]:
    """Move every open task of a person who can no longer act (absence that moves tasks:
    to the delegate; deactivation: to their manager)."""
    raise NotImplementedError
