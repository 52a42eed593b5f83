"""The engine's one entry point to notifications: write outbox rows in the caller's
transaction and hand them to Celery after it commits."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from config import bulk_insert

from . import handoff
from .channels import channel_available
from .choices import PERSON_CHANNELS, Channel, Kind, OutboxState
from .links import Links
from .models import NotificationPreference, Outbox, WebhookSubscription

if TYPE_CHECKING:
    from approvals.models import Request, Task
    from orgchart.models import Person

logger = logging.getLogger(__name__)

# Kind.values builds its list anew at every call.
_KINDS = frozenset(Kind.values)


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
    that want ``kind`` get one row per call, whatever the recipients.

    Inside ``batch()`` (every engine service call) the rows are only collected
    here, and written with the others of the call when the block ends."""
    if kind not in _KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    rows = _rows(kind=kind, request=request, recipients=recipients, task=task, extra=extra,
                 wants_digest=_wants_digest, links=Links())
    collected = getattr(_collecting, "rows", None)
    if collected is not None:
        collected.extend(rows)
    else:
        _write(rows)


def notify_many(messages: list[tuple[str, Request, Task | None, list[Person]]]) -> None:
    """Many ``notify(kind=, request=, task=, recipients=)`` calls, given as
    ``(kind, request, task, recipients)``, writing the very same rows: inside one
    ``batch()`` (one collapse query, one INSERT, one after-commit hand-off), with
    who takes reminders as a digest read once for all and the links' URLs reversed
    once for all (the SLA sweep's batches)."""
    reminded = {
        p.pk for kind, _, _, people in messages if kind == Kind.TASK_REMINDER
        for p in people if p is not None
    }
    digest = set(
        NotificationPreference.objects.filter(person__in=reminded, reminder_digest=True)
        .values_list("person_id", flat=True)
    ) if reminded else set()
    links = Links()
    with batch():
        for kind, request, task, recipients in messages:
            if kind not in _KINDS:
                raise ValueError(f"unknown notification kind {kind!r}")
            _collecting.rows.extend(
                _rows(kind=kind, request=request, recipients=recipients, task=task, extra=None,
                      wants_digest=lambda person: person.pk in digest, links=links)
            )


def _rows(
    *,
    kind: str,
    request: Request,
    recipients: list[Person],
    task: Task | None,
    extra: dict[str, Any] | None,
    wants_digest: Callable[[Person], bool],
    links: Links,
) -> list[Outbox]:
    """The outbox rows of one ``notify`` call (unsaved)."""
    now = timezone.now()
    extra = _enrich(kind=kind, request=request, task=task, extra=dict(extra or {}))
    payload = snapshot(kind=kind, request=request, task=task, extra=extra, now=now, links=links)
    base = _key_base(kind=kind, request=request, task=task, extra=extra)
    rows: list[Outbox] = []
    # The rows name what they point at by id: nothing reads the related objects back
    # from them, and setting those through their descriptors cost more than the rest.
    task_id = task.pk if task is not None else None

    seen: set[int] = set()
    for person in recipients:
        if person is None or person.pk in seen or not person.is_active:
            continue
        seen.add(person.pk)
        digest = kind == Kind.TASK_REMINDER and wants_digest(person)
        for channel in channels_for(person):
            rows.append(
                Outbox(
                    dedup_key=f"{base}:{channel}:p{person.pk}",
                    kind=kind,
                    channel=channel,
                    request_id=request.pk,
                    task_id=task_id,
                    payload=payload,
                    recipient_id=person.pk,
                    state=(OutboxState.DIGEST if digest else OutboxState.PENDING).value,
                    next_attempt_at=now,
                )
            )

    for sub in _subscriptions(kind, request):
        rows.append(
            Outbox(
                dedup_key=f"{base}:{Channel.WEBHOOK}:s{sub.pk}",
                kind=kind,
                channel=Channel.WEBHOOK.value,
                request_id=request.pk,
                task_id=task_id,
                payload=payload,
                subscription_id=sub.pk,
                next_attempt_at=now,
            )
        )
    return rows


# The rows collected by the batch() open in this thread, if any.
_collecting = threading.local()


@contextmanager
def batch() -> Iterator[None]:
    """Collect what ``notify`` writes in the block and write it all when the block
    ends (inside the caller's transaction, which must be open around the block):
    one collapse query, one INSERT and one after-commit hand-off for the whole
    service call. Nothing is written if the block fails. A nested block shares the
    outer one and, if it fails, drops what it added (its savepoint rolled back)."""
    outer = getattr(_collecting, "rows", None)
    if outer is not None:
        mark = len(outer)
        try:
            yield
        except BaseException:
            del outer[mark:]
            raise
        return
    rows: list[Outbox] = []
    _collecting.rows = rows
    try:
        yield
    finally:
        _collecting.rows = None
    _write(rows)


def _write(rows: list[Outbox]) -> None:
    """Insert the rows whose dedup key is new and, after commit, hand those that are
    not held for a digest to the broker."""
    if not rows:
        return
    now = timezone.now()
    hold = _hold_in_insert(now)
    if hold is None:
        _hold_for_collapse(rows)
    for row in rows:
        if row.state == OutboxState.PENDING and row.next_attempt_at <= now:
            # Handed to the broker right after commit: written in that state at once,
            # not inserted pending and updated (every index written twice). If that
            # hand-off fails they go back to pending; if the process dies before it,
            # the re-queue sweep takes them as stale queued rows (OUTBOX_STALE_SECONDS).
            row.state, row.queued_at = OutboxState.QUEUED.value, now
    written = _insert_new(rows, hold=hold)
    due = [(row.pk, row.next_attempt_at) for row in written if row.state != OutboxState.DIGEST]
    if due:
        # After commit only: nothing is sent for a transaction that rolls back.
        from .delivery import enqueue_written

        queued = [row.pk for row in written if row.state == OutboxState.QUEUED]
        transaction.on_commit(
            partial(handoff.after_commit, partial(enqueue_written, due, queued=queued)),
            robust=True,
        )


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
    *,
    kind: str,
    request: Request,
    task: Task | None,
    extra: dict[str, Any],
    now: Any,
    links: Links,
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
            "url": links.request(request.pk),
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
            "url": links.task(task.pk),
        }
    return json_ready(data)


def json_ready(value: Any) -> Any:
    """``json.loads(json.dumps(value, cls=DjangoJSONEncoder))`` without writing and
    reading the text: JSON's own values copied, datetimes in DjangoJSONEncoder's
    spelling, and anything else (a tuple, a Decimal, a key that is not a string, a
    float that is not finite, a subclass) through that very round trip, which
    encodes a value inside a document as it encodes it alone (a str subclass, such
    as a state from a choices enum, is the string it holds). A message's payload
    is built for every notification; the round trip was most of its cost."""
    kind = type(value)
    if kind in _AS_IS or value is None:
        return value
    if kind is dict:
        copy = {}
        for key, item in value.items():
            if type(key) is not str:
                return _round_trip(value)
            # Most values are strings and numbers: copied without a call.
            copy[key] = item if type(item) in _AS_IS or item is None else json_ready(item)
        return copy
    if kind is list:
        return [
            item if type(item) in _AS_IS or item is None else json_ready(item) for item in value
        ]
    if kind is float and math.isfinite(value):
        return value
    if kind is datetime:
        return _ENCODER.default(value)
    if isinstance(value, str):  # a choices enum: JSON writes the string it holds
        return str.__str__(value)
    return _round_trip(value)


_ENCODER = DjangoJSONEncoder()
# The types that JSON gives back as they are (bool is not an int here: type() is exact).
_AS_IS = frozenset({str, int, bool})


def _round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


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


def _insert_new(rows: list[Outbox], *, hold: bulk_insert.Join | None = None) -> list[Outbox]:
    """``INSERT … ON CONFLICT (dedup_key) DO NOTHING RETURNING id`` for all the rows in
    one statement; returns those inserted, with their ids. A key already there (or
    being written by a concurrent transaction, which the insert waits for) is
    skipped: no error, no savepoint. The first of equal keys in ``rows`` wins.
    ``hold``: the collapse check in the same statement (``_hold_in_insert``); the rows
    written take the time and state it gave them."""
    by_key: dict[str, Outbox] = {}
    for row in rows:
        by_key.setdefault(row.dedup_key, row)
    conn = transaction.get_connection()
    # One statement for all the rows (on PostgreSQL one JSON parameter: config.bulk_insert).
    found = bulk_insert.insert_rows(
        conn, list(by_key.values()), conflict_column="dedup_key",
        returning=_HELD_RETURNING if hold else ("id", "dedup_key"), join=hold,
    )
    ids = {key: (pk, rest) for pk, key, *rest in found}
    written = []
    for key, row in by_key.items():
        if key in ids:
            row.pk, held = ids[key]
            if held:
                row.next_attempt_at, row.state, row.queued_at = held
            row._state.adding = False
            row._state.db = conn.alias
            written.append(row)
    return written


_HELD_RETURNING = ("id", "dedup_key", "next_attempt_at", "state", "queued_at")
# ``_hold_for_collapse`` inside the INSERT, row by row (PostgreSQL): the latest message
# sent to the same person about the same request on the same channel within the window
# before the row's time holds the row until the window after it; a row written
# ``queued`` (due now) and held beyond now is ``pending`` instead. One statement less
# for every service call that notifies. Parameters: now, the window (s), "sent", the
# window again.
_HOLD_SQL = (
    "LEFT JOIN LATERAL (SELECT w.until, w.until > %s AS holds FROM ("  # noqa: S608 - names
    "SELECT max(o.sent_at) + %s * interval '1 second' AS until "
    f"FROM {Outbox._meta.db_table} o "
    "WHERE r.recipient_id IS NOT NULL AND r.request_id IS NOT NULL "
    "AND o.recipient_id IS NOT NULL AND o.recipient_id = r.recipient_id "
    "AND o.request_id = r.request_id AND o.channel = r.channel AND o.state = %s "
    "AND o.sent_at > r.next_attempt_at - %s * interval '1 second') w) held ON true"
)
_HOLD_COLUMNS = (
    ("next_attempt_at", "coalesce(held.until, r.next_attempt_at)"),
    ("state", "CASE WHEN held.holds AND r.state = 'queued' THEN 'pending' ELSE r.state END"),
    ("queued_at", "CASE WHEN held.holds AND r.state = 'queued' THEN NULL ELSE r.queued_at END"),
)


def _hold_in_insert(now: datetime) -> bulk_insert.Join | None:
    """The collapse check as part of the INSERT, where the database can (PostgreSQL)
    and there is a window; ``now``: the moment due rows are marked queued."""
    seconds = settings.NOTIFY_COLLAPSE_SECONDS
    if seconds <= 0 or not bulk_insert.available(transaction.get_connection()):
        return None
    return bulk_insert.Join(
        _HOLD_SQL, _HOLD_COLUMNS, (now, seconds, OutboxState.SENT.value, seconds)
    )


def _hold_for_collapse(rows: list[Outbox]) -> None:
    """No storms: if a person got a message about the same request on the same
    channel within the window, hold the new one until the window ends; whatever is
    held then goes out as one message. One query for all the rows."""
    window = timedelta(seconds=settings.NOTIFY_COLLAPSE_SECONDS)
    to_people = [r for r in rows if r.recipient_id is not None and r.request_id is not None]
    if window <= timedelta(0) or not to_people:
        return
    since = min(r.next_attempt_at for r in to_people) - window
    last_sent = _last_sent(
        {r.recipient_id for r in to_people},
        {r.request_id for r in to_people},
        {r.channel for r in to_people},
        since,
    )
    for row in to_people:
        last = last_sent.get((row.recipient_id, row.request_id, row.channel))
        if last is not None and last > row.next_attempt_at - window:
            row.next_attempt_at = last + window


def _last_sent(
    recipients: set[int], requests: set[int], channels: set[str], since: datetime
) -> dict[tuple[int, int, str], datetime]:
    """When each (recipient, request, channel) among these last had a message sent
    after ``since`` (where the INSERT cannot ask it itself: ``_hold_in_insert``)."""
    last_sent: dict[tuple[int, int, str], datetime] = {}
    for recipient, request, channel, sent_at in Outbox.objects.filter(
        _one_of("recipient_id", recipients),
        _one_of("request_id", requests),
        _one_of("channel", channels),
        state=OutboxState.SENT,
        sent_at__gt=since,
    ).values_list("recipient_id", "request_id", "channel", "sent_at").order_by():
        key = (recipient, request, channel)
        last_sent[key] = max(sent_at, last_sent.get(key, sent_at))
    return last_sent


def _wants_digest(person: Person) -> bool:
    return NotificationPreference.objects.filter(person=person, reminder_digest=True).exists()


def _one_of(field: str, values: set[Any]) -> Q:
    """``field = v`` for one value (the usual case, and cheaper to build), else ``IN``."""
    if len(values) == 1:
        return Q(**{field: next(iter(values))})
    return Q(**{f"{field}__in": values})


# Active webhook subscriptions, read at most every few seconds per process: nearly
# every notify call asks, and they change rarely (in the admin). A change made in
# this process is seen at once (signals below); another process sees it within
# SUBSCRIPTIONS_CACHE_SECONDS.
SUBSCRIPTIONS_CACHE_SECONDS = 5.0
_subscriptions_cache: tuple[float, list[WebhookSubscription]] | None = None


def _subscriptions(kind: str, request: Request) -> list[WebhookSubscription]:
    global _subscriptions_cache
    cached = _subscriptions_cache
    if cached is None or cached[0] <= time.monotonic():
        active = list(WebhookSubscription.objects.filter(is_active=True).order_by("pk"))
        cached = _subscriptions_cache = (time.monotonic() + SUBSCRIPTIONS_CACHE_SECONDS, active)
    return [
        s
        for s in cached[1]
        if (s.workflow_id is None or s.workflow_id == request.workflow_id) and s.wants(kind)
    ]


def forget_subscriptions(**_: Any) -> None:
    """Read the subscriptions again at the next notify call."""
    global _subscriptions_cache
    _subscriptions_cache = None


post_save.connect(forget_subscriptions, sender=WebhookSubscription, dispatch_uid="notify-subs")
post_delete.connect(forget_subscriptions, sender=WebhookSubscription, dispatch_uid="notify-subs")
