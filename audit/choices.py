"""The audit trail's vocabulary: every event type, declared once."""

from __future__ import annotations

# Written by the engine (approvals.services), one per state change.
ENGINE_EVENT_TYPES = (
    "request_submitted",
    "step_started",
    "step_skipped",
    "task_assigned",
    "task_decided",
    "task_delegated",
    "task_escalated",
    "task_reassigned",
    "step_closed",
    "request_approved",
    "request_rejected",
    "request_cancelled",
    "request_expired",
    "changes_requested",
    "request_resubmitted",
    "comment_added",
    "routing_fallback",
    "workflow_published",
    "reminder_sent",
)

# Written by the audit trail itself (the ``archive`` chain).
EVENTS_ARCHIVED = "events_archived"
AUDIT_EVENT_TYPES = (EVENTS_ARCHIVED,)

EVENT_TYPES = ENGINE_EVENT_TYPES + AUDIT_EVENT_TYPES

ARCHIVE_CHAIN = "archive"

# The tiers a query reads: the database (hot), the compressed files (archive), or both.
TIERS = ("all", "hot", "archive")
