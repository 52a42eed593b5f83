"""Reads for the reports page: how long decisions take, where requests wait.

Counts and SLA rates are aggregated in the database. Medians and percentiles
are not portable SQL (PostgreSQL has ``percentile_cont``, SQLite has nothing),
so durations are fetched for a bounded window — at most ``MAX_DAYS`` days and
``ROW_CAP`` rows per query — and computed in Python. The page says so.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, Min, Q

from approvals.choices import FINISHED_REQUEST_STATES, TaskState
from approvals.models import Request, Task, Workflow

MAX_DAYS = 90
DEFAULT_DAYS = 30
ROW_CAP = 50_000
# The heatmap shows the busiest approvers only, so it stays readable.
HEATMAP_MAX_APPROVERS = 12
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("<1d", timedelta(days=1)),
    ("1-3d", timedelta(days=3)),
    ("3-7d", timedelta(days=7)),
    (">7d", None),
)
# Heat levels by absolute wait, so a cell means the same thing on every page:
# heat-0 under an hour … heat-5 a week or more.
HEAT_THRESHOLDS = (
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(days=1),
    timedelta(days=3),
    timedelta(days=7),
)
HEAT_LEGEND = ("< 1 h", "1–4 h", "4 h–1 d", "1–3 d", "3–7 d", "≥ 7 d")  # noqa: RUF001
# A decision by a person (or the SLA) on the task itself; replaced or cancelled
# tasks say nothing about how long an approver takes.
DECIDED_TASK_STATES = (
    TaskState.APPROVED,
    TaskState.REJECTED,
    TaskState.CHANGES_REQUESTED,
    TaskState.EXPIRED,
)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0 to 100) by linear interpolation between closest ranks
    (numpy's default, Excel's PERCENTILE.INC); None for no values."""
    data = sorted(values)
    if not data:
        return None
    rank = (len(data) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


@dataclass(frozen=True)
class Stats:
    """How many durations, their median and 90th percentile."""

    count: int
    median: timedelta | None
    p90: timedelta | None

    @classmethod
    def of(cls, durations: list[timedelta]) -> Stats:
        seconds = [d.total_seconds() for d in durations]
        median, p90 = percentile(seconds, 50), percentile(seconds, 90)
        return cls(
            count=len(seconds),
            median=None if median is None else timedelta(seconds=median),
            p90=None if p90 is None else timedelta(seconds=p90),
        )

    @property
    def median_text(self) -> str:
        return format_duration(self.median)

    @property
    def p90_text(self) -> str:
        return format_duration(self.p90)


@dataclass(frozen=True)
class SlaRate:
    with_due: int
    breached: int

    @property
    def rate(self) -> float | None:
        return self.breached / self.with_due if self.with_due else None

    @property
    def rate_text(self) -> str:
        return "—" if self.rate is None else f"{self.rate:.0%}"


@dataclass(frozen=True)
class WorkflowSummary:
    workflow: Workflow
    decision: Stats
    sla: SlaRate
    open_by_age: dict[str, int]

    @property
    def open_total(self) -> int:
        return sum(self.open_by_age.values())


@dataclass(frozen=True)
class StepTime:
    step_id: str
    stats: Stats
    sla: SlaRate


@dataclass(frozen=True)
class HeatCell:
    median: timedelta
    count: int
    level: int

    @property
    def median_text(self) -> str:
        return format_duration(self.median)


@dataclass(frozen=True)
class Heatmap:
    steps: list[str]
    approvers: list[str]
    cells: dict[tuple[str, str], HeatCell]
    more_approvers: int = 0

    def rows(self) -> list[tuple[str, list[HeatCell | None]]]:
        return [(s, [self.cells.get((s, a)) for a in self.approvers]) for s in self.steps]


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


@dataclass
class Report:
    period: Period
    now: datetime
    summaries: list[WorkflowSummary]
    workflow: Workflow | None = None
    steps: list[StepTime] = field(default_factory=list)
    heatmap: Heatmap | None = None
    # True when a query hit ROW_CAP: the numbers describe the newest ROW_CAP rows only.
    truncated: bool = False


def heat_level(wait: timedelta) -> int:
    return sum(wait >= t for t in HEAT_THRESHOLDS)


def clamp_period(start: datetime, end: datetime) -> Period:
    """At most MAX_DAYS, ending at ``end``: the bound that keeps the fetch small."""
    return Period(start=max(start, end - timedelta(days=MAX_DAYS)), end=end)


def _breach_counts(now: datetime) -> dict[str, Count]:
    """Tasks with a due time whose fate is known (decided, or due already), and the
    ones decided late or still open past due."""
    known = Q(decided_at__isnull=False) | Q(due_at__lte=now)
    late = Q(decided_at__gt=F("due_at")) | Q(
        decided_at__isnull=True, state=TaskState.OPEN, due_at__lt=now
    )
    return {
        "with_due": Count("pk", filter=known),
        "breached": Count("pk", filter=known & late),
    }


def decision_times(period: Period, workflow: Workflow | None = None) -> dict[int, Stats]:
    """Request created_at → decided_at of requests finished in the period, per workflow id."""
    rows = Request.objects.filter(
        state__in=FINISHED_REQUEST_STATES,
        decided_at__gte=period.start,
        decided_at__lt=period.end,
    )
    if workflow is not None:
        rows = rows.filter(workflow=workflow)
    fetched = list(
        rows.order_by("-decided_at").values_list("workflow_id", "created_at", "decided_at")[
            :ROW_CAP
        ]
    )
    durations: dict[int, list[timedelta]] = defaultdict(list)
    for workflow_id, created, decided in fetched:
        durations[workflow_id].append(decided - created)
    return {wid: Stats.of(values) for wid, values in durations.items()}


def open_by_age(now: datetime) -> dict[int, dict[str, int]]:
    """Open requests today (whatever the period) by age, per workflow id: one query."""
    aggregates = {}
    lower: timedelta | None = None
    for name, upper in AGE_BUCKETS:
        cond = Q()
        if lower is not None:
            cond &= Q(created_at__lte=now - lower)
        if upper is not None:
            cond &= Q(created_at__gt=now - upper)
        aggregates[name] = Count("pk", filter=cond)
        lower = upper
    rows = Request.objects.open().values("workflow_id").annotate(**aggregates)
    return {row.pop("workflow_id"): row for row in rows}


def sla_rates(period: Period, now: datetime) -> dict[int, SlaRate]:
    rows = (
        Task.objects.filter(due_at__isnull=False, due_at__gte=period.start, due_at__lt=period.end)
        .values("request__workflow_id")
        .annotate(**_breach_counts(now))
    )
    return {r["request__workflow_id"]: SlaRate(r["with_due"], r["breached"]) for r in rows}


def workflow_summaries(period: Period, now: datetime) -> list[WorkflowSummary]:
    """One row per workflow: time to decision, SLA breach rate, open requests by age."""
    times = decision_times(period)
    ages = open_by_age(now)
    slas = sla_rates(period, now)
    empty_ages = {name: 0 for name, _ in AGE_BUCKETS}
    return [
        WorkflowSummary(
            workflow=wf,
            decision=times.get(wf.pk, Stats(0, None, None)),
            sla=slas.get(wf.pk, SlaRate(0, 0)),
            open_by_age=ages.get(wf.pk, empty_ages),
        )
        for wf in Workflow.objects.order_by("key")
    ]


def step_times(workflow: Workflow, period: Period, now: datetime) -> list[StepTime]:
    """Task created_at → decided_at per step, for tasks decided in the period, in the
    order the steps first appeared; with each step's SLA breach rate."""
    tasks = Task.objects.filter(request__workflow=workflow)
    decided = list(
        tasks.filter(
            state__in=DECIDED_TASK_STATES,
            decided_at__gte=period.start,
            decided_at__lt=period.end,
        )
        .order_by("-decided_at")
        .values_list("step_id", "created_at", "decided_at")[:ROW_CAP]
    )
    durations: dict[str, list[timedelta]] = defaultdict(list)
    for step_id, created, decided_at in decided:
        durations[step_id].append(decided_at - created)
    sla_rows = (
        tasks.filter(due_at__isnull=False, due_at__gte=period.start, due_at__lt=period.end)
        .values("step_id")
        .annotate(**_breach_counts(now))
    )
    slas = {r["step_id"]: SlaRate(r["with_due"], r["breached"]) for r in sla_rows}
    order = _step_order(workflow, set(durations) | set(slas))
    return [
        StepTime(step_id=s, stats=Stats.of(durations.get(s, [])), sla=slas.get(s, SlaRate(0, 0)))
        for s in order
    ]


def _step_order(workflow: Workflow, step_ids: set[str]) -> list[str]:
    # Steps run in recipe order, so the first time each step got a task orders them
    # without parsing any recipe (versions may differ in their steps).
    firsts = (
        Task.objects.filter(request__workflow=workflow, step_id__in=step_ids)
        .values("step_id")
        .annotate(first=Min("created_at"))
        .order_by("first", "step_id")
    )
    return [row["step_id"] for row in firsts]


def bottlenecks(workflow: Workflow, period: Period, now: datetime) -> Heatmap:
    """Median wait per step and approver, for tasks created in the period: decided
    tasks count until their decision, open tasks until now (they are still waiting)."""
    rows = list(
        Task.objects.filter(
            request__workflow=workflow,
            created_at__gte=period.start,
            created_at__lt=period.end,
        )
        .filter(Q(state__in=DECIDED_TASK_STATES) | Q(state=TaskState.OPEN))
        .order_by("-created_at")
        .values_list("step_id", "assignee__username", "created_at", "decided_at")[:ROW_CAP]
    )
    waits: dict[tuple[str, str], list[timedelta]] = defaultdict(list)
    per_approver: dict[str, int] = defaultdict(int)
    for step_id, username, created, decided in rows:
        waits[(step_id, username)].append((decided or now) - created)
        per_approver[username] += 1
    busiest = sorted(per_approver, key=lambda u: (-per_approver[u], u))
    approvers = sorted(busiest[:HEATMAP_MAX_APPROVERS])
    cells = {}
    for (step_id, username), values in waits.items():
        if username in approvers:
            stats = Stats.of(values)
            assert stats.median is not None  # values is never empty here
            cells[(step_id, username)] = HeatCell(
                median=stats.median, count=stats.count, level=heat_level(stats.median)
            )
    steps = _step_order(workflow, {s for s, _ in waits})
    return Heatmap(
        steps=steps,
        approvers=approvers,
        cells=cells,
        more_approvers=max(0, len(busiest) - HEATMAP_MAX_APPROVERS),
    )


def build_report(*, workflow: Workflow | None, period: Period, now: datetime) -> Report:
    """Everything the reports page shows; the per-step parts only for one workflow."""
    period = clamp_period(period.start, period.end)
    report = Report(period=period, now=now, summaries=workflow_summaries(period, now))
    report.truncated = sum(s.decision.count for s in report.summaries) >= ROW_CAP
    if workflow is not None:
        report.workflow = workflow
        report.steps = step_times(workflow, period, now)
        report.heatmap = bottlenecks(workflow, period, now)
        report.truncated = report.truncated or sum(s.stats.count for s in report.steps) >= ROW_CAP
    return report


def format_duration(value: timedelta | None) -> str:
    """``2 d 4 h``, ``3 h 20 m``, ``45 m``, ``30 s``; an em dash for none."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} m" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} m"
    return f"{secs} s"
