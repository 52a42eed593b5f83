"""The SLA sweep: 10,000 due tasks among all the open ones.

No row is edited to make work due: the sweep runs "as of" the moment T at which
exactly N open tasks have a rung due (the N-th smallest ``sla_next_at``), which
is what the sweep would find if the clock were T. First a sweep at now (nothing
due) shows the cost of the open-but-not-due tasks: it must be near zero.
Run: DATABASE_URL=... python -m tests.perf.bench_sla [--due 10000]
"""

from __future__ import annotations

import argparse
import time

from tests.perf import common

common.setup()

from django.utils import timezone  # noqa: E402

from approvals import sla  # noqa: E402
from approvals.choices import TaskState  # noqa: E402
from approvals.models import Task  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--due", type=int, default=10_000)
    args = parser.parse_args()
    open_tasks = Task.objects.filter(state=TaskState.OPEN).count()
    with_clock = sla.due_tasks(timezone.now() + timezone.timedelta(days=3650)).count()
    due = min(args.due, with_clock)
    moment = (
        Task.objects.filter(state=TaskState.OPEN, sla_next_at__isnull=False)
        .order_by("sla_next_at", "pk").values_list("sla_next_at", flat=True)[due - 1]
    )
    print(f"{open_tasks} open tasks, {with_clock} with an SLA clock; sweeping as of {moment} "
          f"({due} due); {common.machine()}")
    print("\nEXPLAIN ANALYZE of the sweep's claim (first batch):\n")
    batch = sla.due_tasks(moment).values("request_id")[:100]
    print(batch.explain(analyze=True, buffers=True))

    rows = []
    start = time.perf_counter()
    due_now = sla.due_tasks(timezone.now()).count()  # rungs that came due since generation
    idle = sla.sweep(now=timezone.now(), max_batches=10_000)
    rows.append({"sweep": "now", "due tasks": due_now, "acted": len(idle.acted),
                 "batches": idle.batches, "seconds": time.perf_counter() - start,
                 "tasks/s": 0.0})
    start = time.perf_counter()
    result = sla.sweep(now=moment, max_batches=10_000)
    elapsed = time.perf_counter() - start
    rows.append({"sweep": f"as of T ({due} due)", "due tasks": due, "acted": len(result.acted),
                 "batches": result.batches, "seconds": elapsed,
                 "tasks/s": len(result.acted) / elapsed if elapsed else 0.0})
    start = time.perf_counter()
    again = sla.sweep(now=moment, max_batches=10_000)
    rows.append({"sweep": "as of T again (idempotent)", "due tasks": 0,
                 "acted": len(again.acted), "batches": again.batches,
                 "seconds": time.perf_counter() - start, "tasks/s": 0.0})
    common.print_table(f"SLA sweep among {open_tasks} open tasks", rows)
    print(f"\nactions: {dict(result.counts)}; errors: {len(result.errors)}")


if __name__ == "__main__":
    main()
