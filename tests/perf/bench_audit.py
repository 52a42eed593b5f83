"""The auditor's question and audit_verify throughput.

Question: "every purchase order over 50,000 approved in Q3" — events of type
request_approved, in the third quarter of the generated year, with
inputs.amount >= 50000, newest first, as the auditors' page and API ask it
(``audit.selectors.events_for`` with an ``EventFilter``): the first page of 50,
and the total count the paginator needs. Then ``verify_all`` over the whole
trail, in one process and with ``--workers`` processes (the CPU seconds, this
process's and its workers', are robust to a loaded machine where wall time is not).
Run: DATABASE_URL=... python -m tests.perf.bench_audit [--no-verify] [--workers N] [--no-single]
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime

from tests.perf import common

common.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from audit.filters import EventFilter, InputCondition  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from audit.selectors import events_for  # noqa: E402
from audit.verify import verify_all  # noqa: E402
from orgchart.models import Person  # noqa: E402


def question() -> EventFilter:
    now = datetime.now(tz=UTC)
    year = now.year if now.month > 9 else now.year - 1  # the last Q3 that is over
    return EventFilter(
        event_types=("request_approved",),
        since=datetime(year, 7, 1, tzinfo=UTC),
        until=datetime(year, 10, 1, tzinfo=UTC),
        inputs=(InputCondition(field="amount", op="gte", value="50000"),),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--workers", type=int, default=2, help="verify processes (1: one run)")
    parser.add_argument("--no-single", action="store_true",
                        help="verify with --workers processes only, not also with one")
    args = parser.parse_args()
    auditor = Person.objects.get(username="bench_auditor")
    flt = question()
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'audit_auditevent'")
        events = cursor.fetchone()[0]
    print(f"about {events} audit events; {common.machine()}")
    answer = events_for(auditor, flt)
    with CaptureQueriesContext(connection) as page_queries:
        first = list(answer[:50])
    with CaptureQueriesContext(connection) as count_queries:
        total = answer.count()
    print(f"question: {flt.as_params()} -> {total} events, first page {len(first)}")
    for what, queries in (("first page", page_queries), ("count", count_queries)):
        for query in queries.captured_queries:  # each tier's own query, or one union
            print(f"\nEXPLAIN ANALYZE, {what}:\n")
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
                print("\n".join(line for (line,) in cursor.fetchall()))

    rows = [
        {"query": "first page of 50", **common.percentiles(
            common.timed(lambda: list(events_for(auditor, flt)[:50]), args.runs, warmup=3))},
        {"query": "count (paginator)", **common.percentiles(
            common.timed(lambda: events_for(auditor, flt).count(), args.runs, warmup=3))},
    ]
    common.print_table(f"The auditor's question over ~{events} events (ms)", rows)

    if args.no_verify:
        return
    hot = AuditEvent.objects.count()
    rows = []
    for workers in [args.workers] if args.no_single else sorted({1, args.workers}):
        start, cpu = time.perf_counter(), _cpu_seconds()
        result = verify_all(workers=workers)
        elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        rows.append({
            "workers": workers, "events": hot, "checked": result.checked, "ok": result.ok,
            "seconds": elapsed, "events/s": result.checked / elapsed if elapsed else 0.0,
            "python cpu s": cpu, "us cpu/event": cpu / max(result.checked, 1) * 1e6,
        })
        if not result.ok:
            print(result.describe())
    common.print_table(f"audit_verify (verify_all); {common.machine()}", rows)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (verify's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
