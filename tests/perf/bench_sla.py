"""The SLA sweep: 10,000 due tasks among all the open ones.

No row is edited to make work due: the sweep runs "as of" the moment T at which
exactly N open tasks have a rung due (the N-th smallest ``sla_next_at``), which
is what the sweep would find if the clock were T. First a sweep at now (nothing
due) shows the cost of the open-but-not-due tasks: it must be near zero.
The sweep changes the data: restore it before running again.
Run: DATABASE_URL=... python -m tests.perf.bench_sla [--due 10000]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from tests.perf import common

common.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from approvals import sla  # noqa: E402
from approvals.choices import TaskState  # noqa: E402
from approvals.models import Task  # noqa: E402
from approvals.notifications import delivery  # noqa: E402


def measured(label: str, due: int, run: Callable[[], sla.SweepResult]) -> dict[str, Any]:
    """One sweep: wall and CPU seconds, the SQL statements it sent, and how much of
    the time went to the after-commit hand-off of outbox rows to Celery
    (``delivery._hand_over``, where every hand-off ends; counted in the totals too)."""
    statements = 0
    handoff = {"seconds": 0.0, "rows": 0}
    hand_over = delivery._hand_over

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    def timed_hand_over(rows: list[Any], now: Any, **kwargs: Any) -> int:
        start = time.perf_counter()
        try:
            return hand_over(rows, now, **kwargs)
        finally:
            handoff["seconds"] += time.perf_counter() - start
            handoff["rows"] += len(rows)

    collected = {"seconds": 0.0, "started": 0.0}

    def gc_timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collected["started"] = time.perf_counter()
        else:
            collected["seconds"] += time.perf_counter() - collected["started"]

    delivery._hand_over = timed_hand_over
    gc.callbacks.append(gc_timer)
    try:
        with connection.execute_wrapper(count):
            start, cpu = time.perf_counter(), time.process_time()
            result = run()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        delivery._hand_over = hand_over
        gc.callbacks.remove(gc_timer)
    acted = len(result.acted)
    return {
        "sweep": label,
        "due tasks": due,
        "acted": acted,
        "batches": result.batches,
        "seconds": elapsed,
        "cpu s": cpu,
        "tasks/s": acted / elapsed if acted and elapsed else 0.0,
        "SQL/task": statements / acted if acted else float(statements),
        "hand-off s": handoff["seconds"],
        "gc s": collected["seconds"],
        "rows handed": handoff["rows"],
        "_result": result,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument(
        "--warm", action="store_true",
        help="parse every workflow version's recipe first, as a worker that has run a while "
        "has them in its cache (a fresh process parses each version it meets once)",
    )
    args = parser.parse_args()
    if args.warm:
        from approvals.models import WorkflowVersion

        start = time.perf_counter()
        versions = WorkflowVersion.objects.only("id", "source")
        parsed = sum(1 for version in versions if version.recipe is not None)
        print(f"warm-up: {parsed} versions parsed in {time.perf_counter() - start:.1f} s")
    open_tasks = Task.objects.filter(state=TaskState.OPEN).count()
    with_clock = sla.due_tasks(timezone.now() + timezone.timedelta(days=3650)).count()
    due = min(args.due, with_clock)
    moment = (
        Task.objects.filter(state=TaskState.OPEN, sla_next_at__isnull=False)
        .order_by("sla_next_at", "pk")
        .values_list("sla_next_at", flat=True)[due - 1]
    )
    print(
        f"{open_tasks} open tasks, {with_clock} with an SLA clock; sweeping as of {moment} "
        f"({due} due); {common.machine()}"
    )
    print("\nEXPLAIN ANALYZE of the sweep's claim (first batch):\n")
    with transaction.atomic(), sla.in_due_order():
        print(sla.first_due(moment, 100).explain(analyze=True, buffers=True))

    due_now = sla.due_tasks(timezone.now()).count()  # rungs that came due since generation

    def sweep_as_of(at: Any) -> Callable[[], sla.SweepResult]:
        return lambda: sla.sweep(now=at, max_batches=10_000)

    rows = [
        measured("now", due_now, sweep_as_of(timezone.now())),
        measured(f"as of T ({due} due)", due, sweep_as_of(moment)),
        measured("as of T again (idempotent)", 0, sweep_as_of(moment)),
    ]
    result = rows[1]["_result"]
    for row in rows:
        del row["_result"]
    common.print_table(f"SLA sweep among {open_tasks} open tasks", rows)
    print(f"\nactions: {dict(result.counts)}; errors: {len(result.errors)}")


if __name__ == "__main__":
    main()
