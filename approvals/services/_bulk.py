"""Many audit events and many notifications in a few queries: the SLA sweep's batches.

The audit side is ``audit.services.record_events``; the notification side is
``approvals.notifications.notify.notify_many``.
They must write exactly what the one-at-a-time forms write: the same chain
arithmetic and hashes, the same outbox rows, dedup keys, states and hand-off
after commit (tests/sla/test_batch.py compares the two paths row by row).
What changes is the number of round trips: a few per batch instead of a few per
event or message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from approvals.models import Request
from audit import services as audit_services
from audit.models import AuditEvent
from audit.services import Actor

# --- audit --------------------------------------------------------------------


@dataclass
class Event:
    """One audit event as ``log_event`` would write it (the snapshot is given: the
    caller knows how the request stood right after the event)."""

    request: Request
    event_type: str
    actor: Actor
    payload: dict[str, Any]
    snapshot: dict[str, Any]


def record_events(events: list[Event]) -> list[AuditEvent]:
    """Append the events, in the given order, to their requests' chains with one
    INSERT (``audit.services.record_events``, which shares the transaction's
    chain-head cache with ``record_event``). The caller holds the lock of every
    request named."""
    return audit_services.record_events(
        [
            {
                "event_type": e.event_type,
                "actor": e.actor,
                "request_id": e.request.pk,
                "workflow_key": e.request.workflow.key,
                "workflow_version": e.request.workflow_version.number,
                "payload": e.payload,
                "snapshot": e.snapshot,
                "inputs": e.request.inputs or {},
            }
            for e in events
        ]
    )
