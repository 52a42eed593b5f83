"""Submit and decide: latency in-process and over HTTP, and decision throughput with
concurrent clients against several gunicorn workers.

Each decision is taken by the task's assignee on an open generated task (one task
per request, so clients never wait on one request's lock). The benchmark changes
the data: the decided requests move on or finish, as they would.
Run: DATABASE_URL=... python -m tests.perf.bench_write [--calls 300] [--seconds 20]
     [--workers 3] [--threads 1] [--clients 6] [--only latency|throughput] [--floor]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.perf import common

common.setup()

from django.db.models import Count  # noqa: E402

from approvals import services  # noqa: E402
from approvals.choices import TaskState, Via  # noqa: E402
from approvals.models import Task, Workflow  # noqa: E402
from approvals.notifications import handoff  # noqa: E402
from orgchart.models import Person  # noqa: E402


def pool(n: int, exclude: set[int]) -> list[Task]:
    """Open tasks of pending requests with no other open task (so one decision does
    not wait on another's lock), not in ``exclude``, from a random place in the table."""
    open_tasks = Task.objects.filter(state=TaskState.OPEN, request__state="pending").exclude(
        assignee__username__in=["bench_inbox", "bench_small"]
    )
    top = open_tasks.order_by("-request_id").values_list("request_id", flat=True).first() or 0
    start = random.randint(0, max(0, top - n * 20))
    found: list[Task] = []
    for lower in (start, 0):
        found, after = [], lower - 1
        # Window by window: a run of requests with several open tasks (parallel steps)
        # must not end the search.
        while len(found) < n:
            candidates = list(
                open_tasks.filter(request_id__gt=after).exclude(pk__in=exclude)
                .select_related("assignee").order_by("request_id")[: n * 3]
            )
            if not candidates:
                break
            after = candidates[-1].request_id
            counts = dict(
                Task.objects.filter(state=TaskState.OPEN,
                                    request_id__in={t.request_id for t in candidates})
                .values("request_id").annotate(n=Count("id")).values_list("request_id", "n")
            )
            found += [t for t in candidates if counts.get(t.request_id) == 1]
        if len(found) >= n:
            break
    return found[:n]


def decide_in_process(tasks: list[Task]) -> tuple[list[float], list[float]]:
    """Wall and CPU (this process's, so PostgreSQL's own work is not in it) ms per call.
    The hand-off of each decision's messages to Celery runs on the process's hand-off
    thread (``NOTIFY_HANDOFF_THREAD``) beside the next calls: its CPU is in this
    process's figures; what is left of it is waited for before the figures are taken."""
    wall, cpu = [], []
    for task in tasks:
        start, start_cpu = time.perf_counter(), time.process_time()
        services.decide(task_id=task.pk, actor=task.assignee, decision="approve", via=Via.CLI)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    handoff.drain()
    return wall, cpu


def submit_body(workflow: Workflow) -> dict[str, Any]:
    key = workflow.key
    if "purchase" in key:
        inputs = {"amount": "1234.50", "vendor": "Acme"}
    elif "leave" in key:
        inputs = {"start_date": "2026-12-01", "days": 2}
    elif "access" in key:
        inputs = {"system": "crm"}
    else:
        inputs = {"amount": "99.00"}
    return {"workflow": key, "inputs": inputs, "title": "benchmark"}


def latency(args: argparse.Namespace, rows: list[dict[str, Any]], workflows: list[Workflow],
            req_token: str, http_tasks: list[Task], tokens: dict[int, str]) -> None:
    """Submit, then decide, one call at a time over HTTP."""
    client = common.Client({"Authorization": f"Token {req_token}"})
    samples = []
    for i in range(args.calls):
        body = submit_body(workflows[i % len(workflows)])
        start = time.perf_counter()
        status, data = client.request("POST", "/api/v1/requests/", body)
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 201, (status, data[:300])
    rows.append({"operation": "submit, HTTP POST /api/v1/requests/",
                 **common.percentiles(samples[10:])})

    samples = []
    clients: dict[int, common.Client] = {}
    for task in http_tasks:
        c = clients.setdefault(
            task.assignee_id,
            common.Client({"Authorization": f"Token {tokens[task.assignee_id]}"}))
        start = time.perf_counter()
        status, data = c.request("POST", f"/api/v1/tasks/{task.pk}/decision/",
                                 {"decision": "approve"})
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 200, (status, data[:300])
    rows.append({"operation": "decide, HTTP POST /api/v1/tasks/{id}/decision/",
                 **common.percentiles(samples[10:])})
    common.print_table("Submit and decide latency (ms)", rows)


class LockWaits(threading.Thread):
    """Samples pg_locks while the clients run: how often a backend of this database
    waited for a lock, on what (a row lock shows as the holder's transaction id or
    as a tuple of the table) and in which statement."""

    def __init__(self, until: float) -> None:
        super().__init__(daemon=True)
        self.until = until
        self.samples = 0
        self.waiting: Counter[str] = Counter()

    def run(self) -> None:
        from django.db import connection

        try:
            with connection.cursor() as cursor:
                while time.monotonic() < self.until:
                    cursor.execute(
                        "SELECT l.locktype, coalesce(l.relation::regclass::text, ''), "
                        "left(regexp_replace(a.query, '\\s+', ' ', 'g'), 50) "
                        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE NOT l.granted AND a.datname = current_database()"
                    )
                    self.samples += 1
                    for locktype, relation, query in cursor.fetchall():
                        self.waiting[f"{locktype} {relation}: {query}".strip()] += 1
                    time.sleep(0.05)
        finally:
            connection.close()

    def rows(self) -> list[dict[str, Any]]:
        if not self.waiting:
            return [{"lock": "(none)", "waiting backends, summed over samples": 0,
                     "samples": self.samples}]
        return [{"lock": what, "waiting backends, summed over samples": n,
                 "samples": self.samples} for what, n in self.waiting.most_common(8)]


def decision_path(task: Task) -> str:
    return f"/api/v1/tasks/{task.pk}/decision/"


def throughput(args: argparse.Namespace, load: list[Task], tokens: dict[int, str],
               path: Callable[[Task], str]) -> tuple[int, int, float, dict[str, float]]:
    """``args.clients`` clients in threads, each POSTing an approval for its share of
    ``load`` (as each task's assignee, one keep-alive connection per person) to
    ``path(task)`` for ``args.seconds``: the calls answered 200, the others, seconds,
    and the CPU spent meanwhile (``common.CpuCensus``), which it prints too."""
    shares = [load[i :: args.clients] for i in range(args.clients)]
    done = [0] * args.clients
    errors = [0] * args.clients
    deadline = time.monotonic() + args.seconds

    def run(k: int) -> None:
        conns: dict[int, common.Client] = {}
        for task in shares[k]:
            if time.monotonic() >= deadline:
                return
            c = conns.setdefault(task.assignee_id, common.Client(
                {"Authorization": f"Token {tokens[task.assignee_id]}"}))
            status, _ = c.request("POST", path(task), {"decision": "approve"})
            if status == 200:
                done[k] += 1
            else:
                errors[k] += 1

    threads = [threading.Thread(target=run, args=(k,)) for k in range(args.clients)]
    census = common.CpuCensus()
    census.start()
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    spent = census.stop()
    common.print_table("CPU a call, by process kind (ms, from /proc)",
                       [common.cpu_row(spent, sum(done) + sum(errors))])
    return sum(done), sum(errors), elapsed, spent


def floor(args: argparse.Namespace, used: set[int]) -> None:
    """The same clients and gunicorn against ``POST /perf/floor/`` (tests/perf/
    floor_urls.py): the HTTP stack of a decision's call without the decision."""
    people = pool(300, used)  # only their assignees and tokens: nothing is decided
    load = people * int(args.seconds * 3000 / max(1, len(people)) + 1)
    tokens = {t.assignee_id: common.token_for(t.assignee) for t in people}
    with common.gunicorn(workers=args.workers, threads=args.threads,
                         settings="tests.perf.floor_settings") as base:
        print(f"gunicorn at {base} (floor), {args.workers} workers x {args.threads} threads; "
              f"{common.machine()}")
        done, errors, elapsed, spent = throughput(
            args, load, tokens, lambda task: "/perf/floor/"
        )
    common.print_table("Floor: the same calls with no decision behind them", [{
        "gunicorn workers": args.workers, "threads": args.threads, "clients": args.clients,
        "seconds": round(elapsed, 1), "calls": done, "errors": errors,
        "calls/s": done / elapsed,
        "machine's CPU ms a call": spent["machine"] * 1000 / max(1, done + errors),
    }])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--only", choices=["latency", "throughput"], default=None)
    parser.add_argument(
        "--floor", action="store_true",
        help="first measure the throughput of POST /perf/floor/, the same HTTP stack, "
        "authentication and body with no decision (tests/perf/floor_urls.py)",
    )
    parser.add_argument(
        "--warm", action="store_true",
        help="parse every workflow version's recipe before the in-process decide, as a "
        "worker that has run a while has them (a fresh process parses each version it meets)",
    )
    args = parser.parse_args()
    if args.warm:
        print(common.warm_recipes())
    rows: list[dict[str, Any]] = []
    used: set[int] = set()
    if args.floor:
        floor(args, used)

    # In-process decide: the service alone, no HTTP.
    if args.only != "throughput":
        tasks = pool(args.calls + 20, used)
        used |= {t.pk for t in tasks}
        wall, cpu = decide_in_process(tasks)
        rows.append({"operation": "decide, in-process (services.decide)",
                     **common.percentiles(wall[20:])})
        rows.append({"operation": "  its CPU in this process",
                     **common.percentiles(cpu[20:])})

    requester = Person.objects.get(username="bench_requester")
    workflows = list(Workflow.objects.filter(is_active=True).order_by("pk")[:50])
    http_tasks = pool(args.calls, used) if args.only != "throughput" else []
    used |= {t.pk for t in http_tasks}
    tokens = {t.assignee_id: common.token_for(t.assignee) for t in http_tasks}
    req_token = common.token_for(requester)

    with common.gunicorn(workers=args.workers, threads=args.threads) as base:
        print(f"gunicorn at {base}, {args.workers} workers x {args.threads} threads; "
              f"{common.machine()}")
        if args.only != "throughput":
            latency(args, rows, workflows, req_token, http_tasks, tokens)
        if args.only == "latency":
            return
        # Throughput: clients in threads, each on its own tasks, for a fixed time.
        load = pool(int(args.seconds * 800), used)
        tokens.update({t.assignee_id: common.token_for(t.assignee)
                       for t in load if t.assignee_id not in tokens})
        waits = LockWaits(time.monotonic() + args.seconds)
        waits.start()
        done, errors, elapsed, _ = throughput(args, load, tokens, decision_path)
        waits.join()
        common.print_table("Decision throughput over HTTP", [{
            "gunicorn workers": args.workers, "threads": args.threads, "clients": args.clients,
            "seconds": round(elapsed, 1), "decisions": done, "errors": errors,
            "decisions/s": done / elapsed, "tasks available": len(load),
        }])
        common.print_table("Backends waiting on a lock (sampled every 50 ms)", waits.rows())


if __name__ == "__main__":
    main()
