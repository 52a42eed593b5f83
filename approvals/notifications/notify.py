"""The engine's one entry point to notifications. (Signature fixed; being implemented.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from approvals.models import Request, Task
    from orgchart.models import Person


def notify(
    *,
    kind: str,
    request: Request,
    recipients: list[Person],
    task: Task | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write outbox rows (one per recipient and channel they prefer, with a unique
    dedup key) in the caller's transaction, and queue their delivery with
    transaction.on_commit. Kinds: task_assigned, task_reminder, task_escalated,
    task_reassigned, changes_requested, request_finished, comment_added."""
    return None
