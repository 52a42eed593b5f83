"""Enterprise-size data for benchmarks: ``generate(scale=..., seed=...)``.

Full scale (1.0) is the design brief's enterprise: 100,000 people, 1,000
workflows (about 4,500 versions), 200,000 open requests (about 300,000 open
tasks) and 2,000,000 finished requests, each with its audit chain (about
14,000,000 events). A scale factor shrinks every count (CI runs 0.001). The
same seed on an empty database gives the same rows.

Rows go in with COPY on PostgreSQL (psycopg 3 ``cursor.copy``) and bulk_create
elsewhere; audit hashes come from ``audit.hashing``, so ``audit_verify`` passes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from approvals.models import Decision, Request, Task, Workflow, WorkflowVersion
from orgchart.models import Absence, Person, Role, RoleMembership

from .org import BENCH_PASSWORD, BENCH_USERS, generate_org
from .requests import RequestGenerator
from .sink import Sink, indexes_deferred
from .workflows import generate_workflows

__all__ = ["BENCH_PASSWORD", "BENCH_USERS", "Plan", "generate"]

# The big tables, whose secondary indexes are built after the load.
BULK_TABLES = ("approvals_request", "approvals_task", "approvals_decision", "audit_auditevent")


@dataclass(frozen=True)
class Plan:
    """How many of everything: the brief's enterprise times ``scale``."""

    scale: float
    people: int
    workflows: int
    open_requests: int
    finished_requests: int

    @classmethod
    def for_scale(cls, scale: float) -> Plan:
        if not 0 < scale <= 10:
            raise ValueError("scale must be above 0 and at most 10")
        return cls(
            scale=scale,
            people=max(60, round(100_000 * scale)),
            workflows=max(4, round(1_000 * scale)),
            open_requests=max(150, round(200_000 * scale)),
            finished_requests=max(20, round(2_000_000 * scale)),
        )


@dataclass
class Report:
    plan: Plan
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def generate(
    *,
    scale: float,
    seed: int = 1,
    tag: str = "p",
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Generate the data set; ``tag`` prefixes usernames and workflow keys."""
    plan = Plan.for_scale(scale)
    if Person.objects.filter(username=f"{tag}000000").exists() or Person.objects.filter(
        username=BENCH_USERS[0]
    ).exists():
        raise ValueError("this database already holds generated data; use a fresh one")
    rnd = random.Random(seed)
    now = now or timezone.now()
    say = progress or (lambda _msg: None)
    sink = Sink()
    report = Report(plan=plan)
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        report.seconds[name] = round(time.perf_counter() - started, 1)
        say(f"{name}: {report.seconds[name]} s")
        started = time.perf_counter()

    if sink.postgres:
        with connection.cursor() as cursor:
            # This session only: a crash loses the last chunks, never corrupts anything.
            cursor.execute("SET synchronous_commit TO off")
    with transaction.atomic():
        org = generate_org(sink, rnd, people=plan.people, workflows=plan.workflows, now=now,
                           tag=tag)
    lap("people, roles, absences")
    with transaction.atomic():
        flows = generate_workflows(sink, rnd, org, workflows=plan.workflows, now=now, tag=tag)
    lap("workflows")
    gen = RequestGenerator(sink, rnd, org, flows, now)

    def chunk_done(done: int, total: int) -> None:
        if done % 50_000 < 5_000:
            say(f"  requests {done}/{total} ({time.perf_counter() - started:.0f} s)")

    with indexes_deferred(BULK_TABLES) as dropped:
        if dropped:
            say(f"  {len(dropped)} secondary indexes dropped for the load")
        gen.run(finished=plan.finished_requests, open_=plan.open_requests, progress=chunk_done)
        lap("requests, tasks, decisions, audit events")
    lap("indexes rebuilt")
    sink.reset_sequences(
        [Person, Role, RoleMembership, Absence, Workflow, WorkflowVersion, Request, Task,
         Decision]
    )
    if sink.postgres:
        # VACUUM as autovacuum would have by the time a trail is this old: it sets the
        # visibility map, without which no index-only scan (counts) is possible.
        # Inside a transaction (the tests) VACUUM is refused, so ANALYZE only.
        maintain = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for table in ("orgchart_person", "approvals_request", "approvals_task",
                          "approvals_decision", "audit_auditevent"):
                cursor.execute(f"{maintain} {table}")
            cursor.execute("RESET synchronous_commit")
            cursor.execute("RESET maintenance_work_mem")
    lap("sequences, VACUUM and ANALYZE")
    report.counts = dict(sink.counts)
    return report
