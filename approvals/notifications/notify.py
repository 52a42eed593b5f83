"""The engine's one entry point to notifications: write outbox rows in the caller's
transaction and hand them to Celery after it commits."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from .channels import channel_available
from .choices import PERSON_CHANNELS, Channel, Kind, OutboxState
from .links import request_url, task_url
from .models import NotificationPreference, Outbox, WebhookSubscription

if TYPE_CHECKING:
    from approvals.models import Request, Task
    from orgchart.models import Person

logger = logging.getLogger(__name__)


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
    task_reassigned, changes_requested, request_finished, comment_added.

    Writing the same message twice (same request, round, step, task, kind,
    channel and recipient) inserts it once. Integration webhook subscriptions
    that want ``kind`` get one row per call, whatever the recipients."""
    if kind not in Kind.values:
        raise ValueError(f"unknown notification kind {kind!r}")
    now = timezone.now()
    extra = _enrich(kind=kind, request=request, task=task, extra=dict(extra or {}))
    payload = snapshot(kind=kind, request=request, task=task, extra=extra, now=now)
    base = _key_base(kind=kind, request=request, task=task, extra=extra)
    written: list[int] = []

    seen: set[int] = set()
    for person in recipients:
        if person is None or person.pk in seen or not person.is_active:
            continue
        seen.add(person.pk)
        digest = kind == Kind.TASK_REMINDER and _wants_digest(person)
        for channel in channels_for(person):
            row = _write(
                dedup_key=f"{base}:{channel}:p{person.pk}",
                kind=kind,
                channel=channel,
                request=request,
                task=task,
                payload=payload,
                recipient=person,
                state=OutboxState.DIGEST if digest else OutboxState.PENDING,
                next_attempt_at=_collapse_until(person, request, channel, now),
            )
            if row is not None and not digest:
                written.append(row.pk)

    for sub in _subscriptions(kind, request):
        row = _write(
            dedup_key=f"{base}:{Channel.WEBHOOK}:s{sub.pk}",
            kind=kind,
            channel=Channel.WEBHOOK,
            request=request,
            task=task,
            payload=payload,
            subscription=sub,
            next_attempt_at=now,
        )
        if row is not None:
            written.append(row.pk)

    if written:
        # After commit only: nothing is sent for a transaction that rolls back. If the
        # broker is down the rows stay pending and the re-queue sweep hands them over.
        from .delivery import enqueue

        transaction.on_commit(partial(enqueue, written), robust=True)


def channels_for(person: Person) -> list[str]:
    """The person's preferred channels that can reach them now; email when none can."""
    chosen = [c for c in (person.notification_channels or []) if c in PERSON_CHANNELS]
    usable: list[str] = []
    for channel in chosen or [Channel.EMAIL]:
        if channel not in usable and channel_available(channel, person):
            usable.append(channel)
    if not usable and channel_available(Channel.EMAIL, person):
        usable.append(Channel.EMAIL)
    if not usable:
        logger.warning("notifications: no channel reaches %s; nothing written", person.username)
    return usable


def snapshot(
    *, kind: str, request: Request, task: Task | None, extra: dict[str, Any], now: Any
) -> dict[str, Any]:
    """What a message says, frozen at the moment of the event (JSON-ready)."""
    workflow = request.workflow
    requester = request.requester
    data: dict[str, Any] = {
        "event": kind,
        "occurred_at": now,
        "request": {
            "id": request.pk,
            "title": request.title,
            "workflow": workflow.key,
            "workflow_title": workflow.title,
            "state": request.state,
            "round": request.round,
            "current_step": request.current_step,
            "requester": requester.username,
            "requester_name": requester.display_name,
            "inputs": request.inputs,
            "entity_type": request.entity_type,
            "entity_id": request.entity_id,
            "url": request_url(request.pk),
        },
        "task": None,
        "extra": extra,
    }
    if task is not None:
        assignee = task.assignee
        behalf = task.on_behalf_of
        data["task"] = {
            "id": task.pk,
            "step": task.step_id,
            "state": task.state,
            "assignee": assignee.username,
            "assignee_id": assignee.pk,
            "assignee_name": assignee.display_name,
            "on_behalf_of": behalf.username if behalf else None,
            "on_behalf_of_name": behalf.display_name if behalf else None,
            "due_at": task.due_at,
            "url": task_url(task.pk),
        }
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _enrich(
    *, kind: str, request: Request, task: Task | None, extra: dict[str, Any]
) -> dict[str, Any]:
    """Add what a message needs to say that the engine passes only by id."""
    from approvals.models import Comment, Decision

    comment = extra.get("comment")
    if kind == Kind.COMMENT_ADDED and isinstance(comment, int):
        found = Comment.objects.select_related("author").filter(pk=comment).first()
        extra["comment_id"] = comment
        extra["comment"] = found.text[:1000] if found else ""
        extra["author_name"] = found.author.display_name if found else ""
    if kind == Kind.CHANGES_REQUESTED and task is not None and "comment" not in extra:
        decision = Decision.objects.select_related("decided_by").filter(task=task).first()
        if decision is not None:
            extra["comment"] = decision.comment[:1000]
            extra["decided_by_name"] = decision.decided_by.display_name
    if kind == Kind.REQUEST_FINISHED:
        extra.setdefault("outcome", request.state)
    return extra


def _key_base(*, kind: str, request: Request, task: Task | None, extra: dict[str, Any]) -> str:
    step = (task.step_id if task is not None else request.current_step) or "-"
    parts = [f"r{request.pk}", str(request.round), step, f"t{task.pk}" if task else "-", kind]
    # Events that can happen many times with the same task and kind name themselves.
    for name in ("comment_id", "dedup"):
        if extra.get(name) is not None:
            parts.append(str(extra[name]))
    return ":".join(parts)[:200]


def _write(*, dedup_key: str, **fields: Any) -> Outbox | None:
    if Outbox.objects.filter(dedup_key=dedup_key).exists():
        return None
    try:
        # A savepoint, so a concurrent writer of the same key fails this insert only.
        with transaction.atomic():
            return Outbox.objects.create(dedup_key=dedup_key, **fields)
    except IntegrityError:
        return None


def _collapse_until(person: Person, request: Request, channel: str, now: Any) -> Any:
    """No storms: if this person got a message about this request on this channel
    within the window, hold the new one until the window ends; whatever is held
    then goes out as one message."""
    window = settings.NOTIFY_COLLAPSE_SECONDS
    if window <= 0:
        return now
    last = (
        Outbox.objects.filter(
            recipient=person,
            request=request,
            channel=channel,
            state=OutboxState.SENT,
            sent_at__gt=now - timedelta(seconds=window),
        )
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )
    return last + timedelta(seconds=window) if last else now


def _wants_digest(person: Person) -> bool:
    return NotificationPreference.objects.filter(person=person, reminder_digest=True).exists()


def _subscriptions(kind: str, request: Request) -> list[WebhookSubscription]:
    subs = WebhookSubscription.objects.filter(is_active=True).filter(
        workflow__isnull=True
    ) | WebhookSubscription.objects.filter(is_active=True, workflow_id=request.workflow_id)
    return [s for s in subs.order_by("pk") if s.wants(kind)]
