"""Delivering the outbox: claim a row (exactly once), send it outside any
transaction, record the outcome; retry with exponential backoff; re-queue what
never reached the broker; send the daily reminder digests."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .channels import DeliveryError, channel_module
from .choices import CLAIMABLE_STATES, PERSON_CHANNELS, Kind, OutboxState
from .links import absolute
from .models import Outbox

logger = logging.getLogger(__name__)
_OS = OutboxState


# After the broker refused a message, after-commit hand-offs in this process skip it
# for a while (the rows stay pending for the sweep), so while Redis is down each
# decision does not wait for a connection attempt. The sweep always tries.
BROKER_BACKOFF_SECONDS = 15.0
_broker_down_until = 0.0


def enqueue(ids: list[int], *, now: datetime | None = None, force: bool = False) -> int:
    """Hand outbox rows to the broker. Safe to call any time: a broker that is down
    is logged and the rows stay pending for the re-queue sweep. Returns how many
    rows the broker took."""
    if not force and _broker_recently_down(len(ids)):
        return 0
    now = now or timezone.now()
    rows = list(
        Outbox.objects.filter(pk__in=ids, state__in=CLAIMABLE_STATES)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "next_attempt_at")
    )
    return _hand_over(rows, now)


def enqueue_written(rows: list[tuple[int, datetime]], *, queued: Collection[int] = ()) -> int:
    """After commit: hand the rows a transaction just wrote, ``(id, next_attempt_at)``,
    to the broker without reading them back. Someone else may have handed one over
    meanwhile (the re-queue sweep): the worker's claim still sends it once.

    ``queued``: the rows the transaction already wrote as ``queued`` (those due at
    once; see ``notify._write``), which need no second write when the broker takes
    them; any the broker does not take go back to ``pending`` for the re-queue sweep."""
    if _broker_recently_down(len(rows)):
        _back_to_pending(queued)
        return 0
    return _hand_over(sorted(rows, key=lambda r: (r[1], r[0])), timezone.now(), queued=queued)


def _broker_recently_down(count: int) -> bool:
    if time.monotonic() < _broker_down_until:
        logger.info("outbox: broker recently down; %d row(s) left for the sweep", count)
        return True
    return False


def _back_to_pending(ids: Collection[int]) -> None:
    """Rows written ``queued`` that the broker did not take: ``pending`` again, so the
    re-queue sweep hands them over at its next run (not only once they are stale)."""
    if ids:
        Outbox.objects.filter(pk__in=list(ids), state=_OS.QUEUED).update(state=_OS.PENDING)


def _hand_over(
    rows: list[tuple[int, datetime]], now: datetime, *, queued: Collection[int] = ()
) -> int:
    """Hand the rows to the broker, then mark those due now as queued with one UPDATE
    (but for those already written ``queued``: ``queued`` ids).

    Rows due now go in messages of up to ``NOTIFY_HANDOFF_CHUNK`` ids (one message
    per row cost the SLA sweep a third of its time); a row held for later goes alone,
    delayed until it is due. Each row is still claimed on its own by the worker, so a
    chunk delivered twice sends each message once."""
    global _broker_down_until
    from approvals.tasks import deliver_outbox, deliver_outbox_many

    size = max(1, settings.NOTIFY_HANDOFF_CHUNK)
    due_now = [pk for pk, due in rows if due <= now]
    messages: list[tuple[list[int], float]] = [
        (due_now[i : i + size], 0.0) for i in range(0, len(due_now), size)
    ]
    messages += [([pk], (due - now).total_seconds()) for pk, due in rows if due > now]

    handed = 0
    to_mark: list[int] = []
    queued = set(queued)
    for number, (ids, countdown) in enumerate(messages):
        try:
            if len(ids) == 1:
                args: tuple[Any, ...] = (ids[0],)
                deliver_outbox.apply_async(args, countdown=countdown or None, **_reprs(args))
            else:
                args = (ids,)
                deliver_outbox_many.apply_async(args, **_reprs(args))
        except Exception as exc:  # the broker is down: kombu raises many kinds
            _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
            logger.warning(
                "outbox: broker unavailable (%s); %d row(s) stay pending for the re-queue sweep",
                exc,
                len(rows) - handed,
            )
            # The refused message's rows say why, and wait (pending) for the sweep; so
            # do the rows written queued that later messages would have carried.
            Outbox.objects.filter(pk__in=ids, state__in=CLAIMABLE_STATES).update(
                state=_OS.PENDING,
                last_error=f"broker unavailable at {now:%Y-%m-%d %H:%M:%S}: {exc}"[:1000],
            )
            _back_to_pending(queued.intersection(pk for m, _ in messages[number + 1 :] for pk in m))
            break
        handed += len(ids)
        if not countdown:
            to_mark.extend(pk for pk in ids if pk not in queued)
    if to_mark:
        # Held rows (countdown) stay pending, so the sweep still covers them if the
        # delayed message is lost. A row whose delivery already failed waits for its
        # retry (next_attempt_at ahead): not "queued".
        Outbox.objects.filter(
            pk__in=to_mark, state__in=CLAIMABLE_STATES, next_attempt_at__lte=now
        ).update(state=_OS.QUEUED, queued_at=now)
    return handed


# Below this length the repr of ids is what Celery's saferepr writes (it cuts at 1,024).
_REPR_MAX = 512
_NO_KWARGS = {"kwargsrepr": "{}"}


def _reprs(args: tuple[Any, ...]) -> dict[str, str]:
    """The message headers ``argsrepr`` and ``kwargsrepr`` for a hand-off of outbox ids
    (an id, or a list of them): what Celery's ``saferepr`` writes for them, made with
    ``repr``, which costs a fifth of it (~90 µs of each message). Anything else, or a
    repr long enough for Celery to cut, is left to Celery (tests/notifications compare
    both over many lists)."""
    (ids,) = args
    if type(ids) is int or (type(ids) is list and all(type(pk) is int for pk in ids)):
        text = repr(args)
        if len(text) < _REPR_MAX:
            return {"argsrepr": text, **_NO_KWARGS}
    return {}


def deliver(outbox_id: int, *, now: datetime | None = None) -> str:
    """Deliver one outbox row: "sent", "retry", "failed" or "skipped" (someone else
    claimed it, it is done, or it is not due yet)."""
    now = now or timezone.now()
    # The claim: a conditional UPDATE that must change exactly one row. Two workers
    # given the same row both run it; one changes the row, the other changes nothing.
    claimed = Outbox.objects.filter(
        pk=outbox_id, state__in=CLAIMABLE_STATES, next_attempt_at__lte=now
    ).update(state=_OS.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return "skipped"
    row = Outbox.objects.select_related("recipient", "subscription").get(pk=outbox_id)
    merged = _claim_collapsible(row, now)
    try:
        channel_module(row.channel).send(row, merged)
    except Exception as exc:  # any failure is recorded on the row, never raised
        return _record_failure(row, merged, exc, now)
    Outbox.objects.filter(pk=row.pk, state=_OS.SENDING).update(
        state=_OS.SENT, sent_at=now, last_error=""
    )
    if merged:
        Outbox.objects.filter(pk__in=[m.pk for m in merged], state=_OS.SENDING).update(
            state=_OS.COLLAPSED, sent_at=now
        )
    return "sent"


def _claim_collapsible(row: Outbox, now: datetime) -> list[Outbox]:
    """Claim every other waiting message to the same person about the same request
    on the same channel: they go out inside this one (no notification storms)."""
    if (
        settings.NOTIFY_COLLAPSE_SECONDS <= 0
        or row.channel not in PERSON_CHANNELS
        or row.recipient_id is None
        or row.request_id is None
        or row.kind == Kind.REMINDER_DIGEST
    ):
        return []
    Outbox.objects.filter(
        recipient_id=row.recipient_id,
        request_id=row.request_id,
        channel=row.channel,
        state__in=CLAIMABLE_STATES,
    ).exclude(pk=row.pk).exclude(kind=Kind.REMINDER_DIGEST).update(
        state=_OS.SENDING, claimed_at=now, collapsed_into=row
    )
    return list(Outbox.objects.filter(collapsed_into=row, state=_OS.SENDING).order_by("pk"))


def backoff(attempts: int) -> timedelta:
    seconds = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.OUTBOX_RETRY_MAX_SECONDS))


def _record_failure(row: Outbox, merged: list[Outbox], exc: Exception, now: datetime) -> str:
    permanent = isinstance(exc, DeliveryError) and exc.permanent
    error = f"attempt {row.attempts}: {type(exc).__name__}: {exc}"[:2000]
    give_up = permanent or row.attempts >= settings.OUTBOX_MAX_ATTEMPTS
    logger.warning("outbox %s (%s via %s) %s", row.pk, row.kind, row.channel, error)
    Outbox.objects.filter(pk=row.pk, state=_OS.SENDING).update(
        state=_OS.FAILED if give_up else _OS.PENDING,
        next_attempt_at=now if give_up else now + backoff(row.attempts),
        last_error=error,
    )
    if merged:
        # Their content did not go out: they wait again, each on its own.
        Outbox.objects.filter(pk__in=[m.pk for m in merged], state=_OS.SENDING).update(
            state=_OS.PENDING, collapsed_into=None
        )
    if give_up:
        return "failed"
    enqueue([row.pk, *[m.pk for m in merged]], now=now)
    return "retry"


@dataclass
class RequeueResult:
    reset: int = 0  # claimed by a worker that never finished
    due: int = 0  # rows that should be with the broker
    queued: int = 0  # rows the broker took

    def __str__(self) -> str:
        return f"outbox: {self.queued}/{self.due} re-queued, {self.reset} stale claims reset"


def requeue(*, now: datetime | None = None, limit: int = 500) -> RequeueResult:
    """The re-queue sweep: give the broker every row that is due and not with it
    (the broker was down at commit, a retry is due, a queued message was lost)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.OUTBOX_STALE_SECONDS)
    result = RequeueResult()
    result.reset = Outbox.objects.filter(state=_OS.SENDING, claimed_at__lt=stale).update(
        state=_OS.PENDING,
        collapsed_into=None,
        last_error="the worker that claimed it never finished; queued again",
    )
    due = list(
        Outbox.objects.filter(
            Q(state=_OS.PENDING, next_attempt_at__lte=now)
            | Q(state=_OS.QUEUED, next_attempt_at__lt=stale, queued_at__lt=stale)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    result.due = len(due)
    if due:
        result.queued = enqueue(due, now=now, force=True)
    return result


def retry_now(ids: list[int]) -> int:
    """An operator's "retry" (admin action): failed or waiting rows get a fresh
    budget of attempts and go to the broker now."""
    now = timezone.now()
    changed = Outbox.objects.filter(
        pk__in=ids, state__in=[_OS.FAILED, _OS.PENDING, _OS.QUEUED]
    ).update(state=_OS.PENDING, attempts=0, next_attempt_at=now)
    transaction.on_commit(lambda: enqueue(list(ids), force=True), robust=True)
    return changed


def send_digests(*, now: datetime | None = None, force: bool = False) -> int:
    """Collect each person's held reminders into one digest message per channel.
    Runs hourly; acts at NOTIFY_DIGEST_HOUR local time (or always with ``force``)."""
    now = now or timezone.now()
    if not force and timezone.localtime(now).hour != settings.NOTIFY_DIGEST_HOUR:
        return 0
    made: list[int] = []
    pairs = (
        Outbox.objects.filter(state=_OS.DIGEST)
        .values_list("recipient_id", "channel")
        .distinct()
        .order_by("recipient_id", "channel")
    )
    for person_id, channel in list(pairs):
        with transaction.atomic():
            held = list(
                Outbox.objects.select_for_update()
                .filter(state=_OS.DIGEST, recipient_id=person_id, channel=channel)
                .order_by("created_at")
            )
            if not held:
                continue
            payload = {
                "event": Kind.REMINDER_DIGEST,
                "items": [h.payload for h in held],
                "inbox_url": absolute("/"),
            }
            try:
                with transaction.atomic():
                    digest = Outbox.objects.create(
                        dedup_key=f"digest:p{person_id}:{channel}:{held[-1].pk}",
                        kind=Kind.REMINDER_DIGEST,
                        channel=channel,
                        recipient_id=person_id,
                        payload=payload,
                        next_attempt_at=now,
                    )
            except IntegrityError:
                continue
            Outbox.objects.filter(pk__in=[h.pk for h in held]).update(
                state=_OS.COLLAPSED, collapsed_into=digest
            )
            made.append(digest.pk)
    if made:
        enqueue(made, now=now, force=True)
    return len(made)
