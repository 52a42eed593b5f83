"""Many audit events and many notifications in a few queries: the SLA sweep's batches.

The audit side is ``audit.services.record_events``; the notification side is the
bulk form of ``approvals.notifications.notify.notify``, written here on top of that
module's public parts.
They must write exactly what the one-at-a-time forms write: the same chain
arithmetic and hashes, the same outbox rows, dedup keys, states and hand-off
after commit (tests/sla/test_batch.py compares the two paths row by row).
What changes is the number of round trips: a few per batch instead of a few per
event or message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from approvals.models import Request, Task
from approvals.notifications.choices import Channel, Kind, OutboxState
from approvals.notifications.models import NotificationPreference, Outbox, WebhookSubscription
from approvals.notifications.notify import channels_for
from approvals.notifications.notify import snapshot as message_snapshot
from audit import services as audit_services
from audit.models import AuditEvent
from audit.services import Actor
from orgchart.models import Person

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


# --- notifications --------------------------------------------------------------


@dataclass
class Message:
    """One ``notify`` call: a kind of message about a task, to some people."""

    kind: str
    request: Request
    task: Task
    recipients: list[Person]


# The kinds whose message says nothing beyond the request and the task (notify's
# ``_enrich`` adds nothing to them): the ones the SLA sends.
TASK_KINDS = (Kind.TASK_ASSIGNED, Kind.TASK_REMINDER, Kind.TASK_ESCALATED)


def notify_many(messages: list[Message]) -> list[int]:
    """Write the outbox rows of many ``notify`` calls (same rows, same dedup keys,
    same digest, collapse and webhook rules) and hand them to Celery after commit
    in one call. The caller holds the locks of the requests, so no one else writes
    their keys meanwhile; a duplicate would fail the INSERT (and the caller's batch).
    Returns the ids handed over."""
    for m in messages:
        if m.kind not in TASK_KINDS:
            raise ValueError(f"notify_many sends {TASK_KINDS}, not {m.kind!r}")
    if not messages:
        return []
    now = timezone.now()
    people = {p.pk: p for m in messages for p in m.recipients if p is not None and p.is_active}
    channels = {pk: channels_for(person) for pk, person in people.items()}
    digest = _wanting_digest([m for m in messages if m.kind == Kind.TASK_REMINDER])
    held = _collapse_until(messages, people, now)
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True).order_by("pk"))

    rows: dict[str, Outbox] = {}  # by dedup key: the first write of a key wins
    for m in messages:
        payload = message_snapshot(kind=m.kind, request=m.request, task=m.task, extra={}, now=now)
        base = _key_base(m)
        common = {"kind": m.kind, "request": m.request, "task": m.task, "payload": payload}
        seen: set[int] = set()
        for person in m.recipients:
            if person is None or person.pk in seen or not person.is_active:
                continue
            seen.add(person.pk)
            digested = m.kind == Kind.TASK_REMINDER and person.pk in digest
            for channel in channels[person.pk]:
                key = f"{base}:{channel}:p{person.pk}"
                rows.setdefault(
                    key,
                    Outbox(
                        dedup_key=key,
                        channel=channel,
                        recipient=person,
                        state=OutboxState.DIGEST if digested else OutboxState.PENDING,
                        next_attempt_at=held.get((person.pk, m.request.pk, channel), now),
                        **common,
                    ),
                )
        for sub in subscriptions:
            if sub.workflow_id not in (None, m.request.workflow_id) or not sub.wants(m.kind):
                continue
            key = f"{base}:{Channel.WEBHOOK}:s{sub.pk}"
            rows.setdefault(
                key,
                Outbox(
                    dedup_key=key,
                    channel=Channel.WEBHOOK,
                    subscription=sub,
                    next_attempt_at=now,
                    **common,
                ),
            )

    written = set(Outbox.objects.filter(dedup_key__in=rows).values_list("dedup_key", flat=True))
    new = [row for key, row in rows.items() if key not in written]
    Outbox.objects.bulk_create(new)
    handed = [row.pk for row in new if row.state != OutboxState.DIGEST]
    if handed:
        # After commit only, as notify does: nothing is sent for a batch that rolls back,
        # and rows the broker does not take stay pending for the re-queue sweep.
        from approvals.notifications.delivery import enqueue

        transaction.on_commit(partial(enqueue, handed), robust=True)
    return handed


def _key_base(m: Message) -> str:
    # notify's key: request, round, step, task, kind (these kinds add nothing to it).
    step = m.task.step_id or "-"
    return ":".join([f"r{m.request.pk}", str(m.request.round), step, f"t{m.task.pk}", m.kind])[:200]


def _wanting_digest(reminders: list[Message]) -> set[int]:
    """Of the reminders' recipients, those who take reminders as a daily digest."""
    people = {p.pk for m in reminders for p in m.recipients if p is not None}
    if not people:
        return set()
    return set(
        NotificationPreference.objects.filter(person__in=people, reminder_digest=True).values_list(
            "person_id", flat=True
        )
    )


def _collapse_until(
    messages: list[Message], people: dict[int, Person], now: Any
) -> dict[tuple[int, int, str], Any]:
    """No storms: a person who got a message about a request on a channel within the
    window has the new ones held until the window ends (by person, request, channel)."""
    window = settings.NOTIFY_COLLAPSE_SECONDS
    if window <= 0 or not people:
        return {}
    last = (
        Outbox.objects.filter(
            recipient__in=people,
            request__in={m.request.pk for m in messages},
            state=OutboxState.SENT,
            sent_at__gt=now - timedelta(seconds=window),
        )
        .values("recipient", "request", "channel")
        .annotate(last=Max("sent_at"))
        .order_by()
    )
    return {
        (row["recipient"], row["request"], row["channel"]): row["last"] + timedelta(seconds=window)
        for row in last
    }
