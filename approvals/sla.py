"""The SLA sweep: find due work in batches and let the engine act on it.

Selection only; the rungs (remind, escalate, auto action, expire) are the
engine's ``services.sla_act``, which is idempotent and moves ``sla_next_at`` on.

Lock order. Every engine service locks the Request row first, then its tasks.
So the sweep claims due *requests*, never task rows: in one transaction it
locks, with ``SKIP LOCKED``, the requests of the earliest due tasks (read on
the partial index ``task_sla_due``, ordered by ``sla_next_at``), then calls
``sla_act`` for each due task of those requests. ``sla_act``'s own lock on the
same request is a re-lock by the same transaction. A second sweeper skips the
requests the first holds, so two sweepers never act on one task; a request
that a person is deciding right now is skipped too and picked up next minute.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Subquery
from django.utils import timezone

from approvals import services
from approvals.choices import TaskState
from approvals.models import Request, Task

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
    (``sla_act`` moved every ``sla_next_at`` past it)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.SLA_SWEEP_BATCH_SIZE
    result = SweepResult()
    tried: set[int] = set()  # a task the engine left due is not tried twice per pass
    for _ in range(max_batches):
        if not _one_batch(now=now, batch_size=batch_size, result=result, tried=tried):
            break
        result.batches += 1
    return result


def _claim_requests(now: datetime, batch_size: int, tried: set[int]) -> list[int]:
    due_request_ids = due_tasks(now).exclude(pk__in=tried).values("request_id")[:batch_size]
    claimed = Request.objects.filter(pk__in=Subquery(due_request_ids))
    if connection.features.has_select_for_update_skip_locked:
        claimed = claimed.select_for_update(skip_locked=True, of=("self",))
    # SQLite has no row locks: its IMMEDIATE transactions already let one writer in.
    return list(claimed.order_by("pk").values_list("pk", flat=True))


def _one_batch(*, now: datetime, batch_size: int, result: SweepResult, tried: set[int]) -> bool:
    with transaction.atomic():
        request_ids = _claim_requests(now, batch_size, tried)
        if not request_ids:
            return False
        # Read after locking: a task another sweeper acted on before we got the lock
        # is no longer due here.
        tasks = list(
            due_tasks(now).filter(request_id__in=request_ids).values_list("pk", flat=True)
        )
        result.requests += len(request_ids)
        for task_id in tasks:
            tried.add(task_id)
            try:
                # A savepoint per task: one failing task rolls back alone.
                with transaction.atomic():
                    actions = services.sla_act(task_id=task_id, now=now)
            except Exception as exc:  # recorded and logged; the sweep goes on
                logger.exception("sla: task %s failed", task_id)
                result.errors[task_id] = f"{type(exc).__name__}: {exc}"
                continue
            if actions:
                result.acted[task_id] = list(actions)
    return True
