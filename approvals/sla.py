"""The SLA sweep: find due work in batches and let the engine act on it.

Selection only; the rungs (remind, escalate, auto action, expire) are the
engine's: ``services.sla_act_many`` acts on a batch of requests at once
(reminders and escalations, a few queries per batch) and ``services.sla_act``
on one task (automatic actions, and every task of a batch whose bulk pass
failed). Both are idempotent and move ``sla_next_at`` on.

Lock order. Every engine service locks the Request row first, then its tasks.
So the sweep claims due *requests*, never task rows: in one statement it walks
the partial index ``task_sla_due`` in ``sla_next_at`` order and locks, with
``SKIP LOCKED``, the requests of the first due tasks until it holds a batch.
The engine's own locks on those requests are re-locks by the same transaction.
A second sweeper skips the requests the first holds and claims the next ones,
so two sweepers never act on one task; a request that a person is deciding
right now is skipped too and picked up next minute.

Fan-out. A backlog (more due than one batch: after an outage, a holiday, a
workflow whose rungs all fall on Monday 9:00) is swept by ``SLA_SWEEPERS``
worker processes side by side, all as of the same moment: the beat's pass asks
for the others (``helpers_wanted``) and sweeps beside them. The claim above is
what keeps them apart; their work meets nowhere else (each request has its own
audit chain), so a backlog goes as many times faster as there are cores.

One transaction per batch: each action's audit events and outbox rows commit
with its change, and the outbox rows go to Celery after that commit. A sweep
killed mid-batch rolls that batch back; the next sweep finds it still due.

A task the engine fails on (a recipe that no longer resolves, say) is logged,
and its next look is put off by ``SLA_RETRY_SECONDS``: its rungs stay due, but
every minute's passes do not fail on it again, nor count it as a backlog.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from approvals import services
from approvals.choices import TaskState
from approvals.models import Task

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """What one sweep did: per task the rungs acted on, and the errors."""

    acted: dict[int, list[str]] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    batches: int = 0
    requests: int = 0

    @property
    def counts(self) -> Counter[str]:
        return Counter(action for actions in self.acted.values() for action in actions)

    def __str__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "nothing due"
        text = f"sla: {len(self.acted)} task(s) on {self.requests} request(s): {counts}"
        if self.errors:
            text += f"; {len(self.errors)} error(s): " + "; ".join(
                f"task {pk}: {err}" for pk, err in sorted(self.errors.items())
            )
        return text


def due_tasks(now: datetime):  # -> QuerySet[Task]
    """Open tasks whose next rung is due: exactly the partial index task_sla_due."""
    return Task.objects.filter(
        state=TaskState.OPEN, sla_next_at__isnull=False, sla_next_at__lte=now
    ).order_by("sla_next_at", "pk")


def sweep(
    *, now: datetime | None = None, batch_size: int | None = None, max_batches: int = 50
) -> SweepResult:
    """One SLA pass. Idempotent: a second pass at the same ``now`` finds nothing due
    (the engine moved every ``sla_next_at`` past it)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.SLA_SWEEP_BATCH_SIZE
    result = SweepResult()
    # Tasks the engine failed on or left due: not tried twice in one pass. Only those:
    # the claim excludes them by id, so the list stays as short as the trouble.
    skip: set[int] = set()
    with _heap_set_aside():
        for _ in range(max_batches):
            if not _one_batch(now=now, batch_size=batch_size, result=result, skip=skip):
                break
            result.batches += 1
    return result


def _put_off(task_id: int, now: datetime) -> None:
    """Look at a task the engine failed on again ``SLA_RETRY_SECONDS`` after ``now``;
    if even that fails, the next minute's pass tries the task again."""
    try:  # the service's own savepoint: the batch goes on either way
        services.sla_put_off(
            task_id=task_id, until=now + timedelta(seconds=settings.SLA_RETRY_SECONDS)
        )
    except Exception:
        logger.exception("sla: task %s could not be put off", task_id)


@contextmanager
def _heap_set_aside() -> Iterator[None]:
    """A pass makes and drops a few hundred thousand objects; each time they add up,
    Python's cycle collector also rescans the process's long-lived heap (Django, the
    parsed recipes): ~10 % of a pass's CPU. Within the pass the objects that were there
    before it are set aside (``gc.freeze``) and given back after (``gc.unfreeze``: the
    collector sees them again, so nothing it would have freed is kept). Not when
    something is frozen already: whoever froze it (a pre-fork hook) meant it to stay."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def helpers_wanted(now: datetime, batch_size: int | None = None) -> int:
    """How many sweepers to start beside this one, as of ``now``: ``SLA_SWEEPERS`` - 1
    when more than one batch is due, else none (one index probe of task_sla_due).
    None on a database without ``SKIP LOCKED`` (SQLite lets one writer in at a time:
    a second sweeper would only wait, and make people's decisions wait)."""
    batch_size = batch_size or settings.SLA_SWEEP_BATCH_SIZE
    if settings.SLA_SWEEPERS <= 1 or not connection.features.has_select_for_update_skip_locked:
        return 0
    with transaction.atomic(), in_due_order():
        beyond = due_tasks(now).values_list("pk", flat=True)[batch_size : batch_size + 1]
        return settings.SLA_SWEEPERS - 1 if list(beyond) else 0


def ask_for_helpers(now: datetime, ask: Callable[[], object]) -> None:
    """Call ``ask`` (which publishes one more pass as of ``now``) as many times as
    ``helpers_wanted`` says; a broker that refuses is logged and the pass goes on
    alone (losing Redis loses no work)."""
    for _ in range(helpers_wanted(now)):
        try:
            ask()
        except Exception:  # kombu raises many kinds; the beat's own pass must still run
            logger.warning("sla: no helper pass could be asked for; sweeping alone", exc_info=True)
            return


def claim(now: datetime, batch_size: int, skip: Collection[int] = ()) -> list[int]:
    """Lock the requests of the first ``batch_size`` due tasks that nobody else holds
    and return their ids, in id order. Must run inside the batch's transaction,
    which keeps the locks."""
    with in_due_order():
        return sorted({task.request_id for task in first_due(now, batch_size, skip)})


def first_due(now: datetime, batch_size: int, skip: Collection[int] = ()):  # -> QuerySet[Task]
    """The first due tasks in due order, locking their requests as it goes and
    passing over those someone holds (``FOR UPDATE OF request SKIP LOCKED``)."""
    tasks = (
        due_tasks(now)
        .exclude(pk__in=skip)
        .select_related("request")
        .only("request_id", "request__id")[:batch_size]
    )
    if connection.features.has_select_for_update_skip_locked:
        tasks = tasks.select_for_update(skip_locked=True, of=("request",))
    # SQLite has no row locks: its IMMEDIATE transactions already let one writer in.
    return tasks


@contextmanager
def in_due_order() -> Iterator[None]:
    """Within it, PostgreSQL reads ``task_sla_due`` in order and stops at the batch.
    Left to itself the planner, which expects few due rows, takes a bitmap scan
    that reads and sorts every due task for every batch (a sweep of D due tasks
    then reads D²/batch rows). Transaction-local; put back for what follows."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan TO DEFAULT")


def _one_batch(*, now: datetime, batch_size: int, result: SweepResult, skip: set[int]) -> bool:
    with transaction.atomic():
        request_ids = claim(now, batch_size, skip)
        if not request_ids:
            return False
        result.requests += len(request_ids)
        try:
            batch = services.sla_act_many(request_ids=request_ids, now=now)
        except Exception:  # its savepoint rolled back: redo the batch one task at a time
            logger.exception(
                "sla: a batch failed; its %d request(s) one task at a time", len(request_ids)
            )
            one_by_one = list(
                due_tasks(now)
                .filter(request_id__in=request_ids)
                .exclude(pk__in=skip)
                .values_list("pk", flat=True)
            )
        else:
            result.acted.update(batch.acted)
            skip.update(batch.left_due)
            one_by_one = batch.one_by_one
        for task_id in one_by_one:
            skip.add(task_id)
            try:
                # A savepoint per task: one failing task rolls back alone.
                with transaction.atomic():
                    actions = services.sla_act(task_id=task_id, now=now)
            except Exception as exc:  # recorded, logged and put off; the sweep goes on
                logger.exception("sla: task %s failed", task_id)
                result.errors[task_id] = f"{type(exc).__name__}: {exc}"
                _put_off(task_id, now)
                continue
            if actions:
                result.acted[task_id] = list(actions)
    return True
