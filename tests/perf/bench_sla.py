"""The SLA sweep: 10,000 due tasks among all the open ones.

No row is edited to make work due: the sweep runs "as of" the moment T at which
exactly N open tasks have a rung due (the N-th smallest ``sla_next_at``), which
is what the sweep would find if the clock were T. First a sweep at now (nothing
due) shows the cost of the open-but-not-due tasks: it must be near zero.
With ``--sweepers N`` (default: SLA_SWEEPERS) each sweep runs in N processes side
by side, as the beat's pass and the passes it asks for run in N worker processes
when a backlog is due (approvals/sla.py): the time is from the first one's start to
the last one's end, the other columns are the processes' sums.
The sweep changes the data: restore it before running again.
Run: DATABASE_URL=... python -m tests.perf.bench_sla [--due 10000] [--sweepers 1]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from tests.perf import common

common.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from approvals import sla  # noqa: E402
from approvals.choices import TaskState  # noqa: E402
from approvals.models import Task  # noqa: E402
from approvals.notifications import delivery  # noqa: E402
from approvals.notifications import handoff as notify_handoff  # noqa: E402


def measured(label: str, due: int, run: Callable[[], sla.SweepResult]) -> dict[str, Any]:
    """One sweep: wall and CPU seconds, the SQL statements it sent, and how much of
    the time went to the after-commit hand-off of outbox rows to Celery
    (``delivery._hand_over``, where every hand-off ends, on the hand-off thread beside
    the sweep; the clock stops once that thread is done)."""
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
            notify_handoff.drain()  # what the thread still has to hand over is the sweep's
            end, cpu = time.perf_counter(), time.process_time() - cpu
            elapsed = end - start
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
        "_span": (start, end),
        "_statements": statements,
    }


def side_by_side(label: str, due: int, at: Any, sweepers: int) -> dict[str, Any]:
    """``sla.sweep(now=at)`` in ``sweepers`` forked processes started together (each
    with its own connection), as worker processes run a pass and its helpers."""
    context = multiprocessing.get_context("fork")
    connections.close_all()  # the children open their own
    start_together, rows = context.Barrier(sweepers), context.Queue()

    def sweeper() -> None:
        start_together.wait(timeout=120)
        row = measured(label, due, lambda: sla.sweep(now=at, max_batches=10_000))
        row["_result"] = (dict(row["_result"].acted), row["_result"].errors, row["_result"].batches)
        rows.put(row)
        connections.close_all()

    processes = [context.Process(target=sweeper) for _ in range(sweepers)]
    for process in processes:
        process.start()
    try:
        parts = [rows.get(timeout=900) for _ in processes]  # a sweeper that died: queue.Empty
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    if any(process.exitcode for process in processes):
        raise RuntimeError(f"a sweeper failed: exit codes {[p.exitcode for p in processes]}")
    result = sla.SweepResult()
    for part in parts:
        acted, errors, batches = part["_result"]
        result.acted.update(acted)
        result.errors.update(errors)
        result.batches += batches
    acted = len(result.acted)
    statements = sum(part["_statements"] for part in parts)
    elapsed = max(p["_span"][1] for p in parts) - min(p["_span"][0] for p in parts)
    return {
        "sweep": f"{label}, {sweepers} sweepers",
        "due tasks": due,
        "acted": acted,
        "batches": result.batches,
        "seconds": elapsed,
        "cpu s": sum(part["cpu s"] for part in parts),
        "tasks/s": acted / elapsed if acted and elapsed else 0.0,
        "SQL/task": statements / acted if acted else float(statements),
        "hand-off s": sum(part["hand-off s"] for part in parts),
        "gc s": sum(part["gc s"] for part in parts),
        "rows handed": sum(part["rows handed"] for part in parts),
        "_result": result,
        "per sweeper": [part["acted"] for part in parts],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument(
        "--warm", action="store_true",
        help="parse every workflow version's recipe first, as a worker that has run a while "
        "has them in its cache (a fresh process parses each version it meets once)",
    )
    parser.add_argument(
        "--sweepers", type=int, default=settings.SLA_SWEEPERS,
        help="processes sweeping side by side, as SLA_SWEEPERS worker processes do with a "
        "backlog (default: SLA_SWEEPERS)",
    )
    args = parser.parse_args()
    if args.warm:
        print(common.warm_recipes())
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

    def sweep(label: str, due: int, at: Any) -> dict[str, Any]:
        if args.sweepers > 1:
            return side_by_side(label, due, at, args.sweepers)
        return measured(label, due, lambda: sla.sweep(now=at, max_batches=10_000))

    rows = [
        sweep("now", due_now, timezone.now()),
        sweep(f"as of T ({due} due)", due, moment),
        sweep("as of T again (idempotent)", 0, moment),
    ]
    result = rows[1]["_result"]
    shares = [row.pop("per sweeper", None) for row in rows]
    for row in rows:
        for key in [k for k in row if k.startswith("_")]:
            del row[key]
    common.print_table(f"SLA sweep among {open_tasks} open tasks", rows)
    if args.sweepers > 1:
        print(f"\ntasks acted on by each sweeper: {shares}")
    print(f"\nactions: {dict(result.counts)}; errors: {len(result.errors)}")


if __name__ == "__main__":
    main()
