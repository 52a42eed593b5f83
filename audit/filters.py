"""The auditors' filters: parsed once from query parameters, applied to either tier.

The same ``EventFilter`` serves the API list, the CSV export and the auditor
page, on ``AuditEvent`` (hot) and ``ArchivedEvent`` (archive) alike: both have
the same query columns. Bad values raise ``FilterError`` naming the parameter.

Inputs filters: ``inputs.FIELD=VALUE`` and ``inputs.FIELD__gte|gt|lte|lt=VALUE``.
A numeric VALUE compares numerically, also against numbers stored as strings
(money is stored as ``"50000.00"``); any other VALUE compares as text
(ISO dates order correctly as text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from django.db import connections, models
from django.db.models import Q, QuerySet
from django.db.models.expressions import Func
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .choices import EVENT_TYPES, TIERS

NUMBER_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")
# PostgreSQL regex for the same, applied to stored text before casting it.
PG_NUMBER_RE = r"^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$"
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
USERNAME_RE = re.compile(r"^[\w.@+-]{1,150}$")
OPERATORS = ("exact", "gte", "gt", "lte", "lt")
# Parameters that belong to pagination or rendering, not to the filter.
PASSTHROUGH = ("page", "page_size", "format")
PARAMS = (
    "request",
    "workflow",
    "workflow_version",
    "event_type",
    "actor",
    "on_behalf_of",
    "since",
    "until",
    "imported",
    "tier",
)


class FilterError(ValueError):
    """A query parameter that cannot be used, and why."""

    def __init__(self, param: str, message: str):
        self.param = param
        self.message = message
        super().__init__(f"{param}: {message}")


@dataclass(frozen=True)
class InputCondition:
    field: str
    op: str
    value: str

    @property
    def is_number(self) -> bool:
        return bool(NUMBER_RE.match(self.value))


@dataclass(frozen=True)
class EventFilter:
    """Parsed filters; every attribute None or empty means "any"."""

    request_id: int | None = None
    workflow: str | None = None
    workflow_version: int | None = None
    event_types: tuple[str, ...] = ()
    actor: str | None = None
    on_behalf_of: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    imported: bool | None = None
    tier: str = "all"
    inputs: tuple[InputCondition, ...] = field(default_factory=tuple)

    def as_params(self) -> dict[str, str]:
        """Back to query parameters (links to the export and the next page)."""
        params: dict[str, str] = {}
        if self.request_id is not None:
            params["request"] = str(self.request_id)
        if self.workflow:
            params["workflow"] = self.workflow
        if self.workflow_version is not None:
            params["workflow_version"] = str(self.workflow_version)
        if self.event_types:
            params["event_type"] = ",".join(self.event_types)
        if self.actor:
            params["actor"] = self.actor
        if self.on_behalf_of:
            params["on_behalf_of"] = self.on_behalf_of
        if self.since:
            params["since"] = self.since.isoformat()
        if self.until:
            params["until"] = self.until.isoformat()
        if self.imported is not None:
            params["imported"] = "true" if self.imported else "false"
        if self.tier != "all":
            params["tier"] = self.tier
        for cond in self.inputs:
            suffix = "" if cond.op == "exact" else f"__{cond.op}"
            params[f"inputs.{cond.field}{suffix}"] = cond.value
        return params


def _int(param: str, raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise FilterError(param, f"expected a whole number, got {raw!r}")
    return int(raw)


def _moment(param: str, raw: str) -> datetime:
    """An ISO datetime, or a date meaning that day's start in the site's time zone."""
    try:
        moment = parse_datetime(raw)
        day = None if moment else parse_date(raw)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise FilterError(param, f"expected an ISO date or datetime, got {raw!r}")
    if moment is None:
        assert day is not None
        moment = datetime.combine(day, time.min)
    try:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        # In UTC: Python accepts offsets up to 23:59, PostgreSQL only up to 15:59.
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is a moment before year 1
        raise FilterError(param, f"{raw!r} is out of range") from None


def _bool(param: str, raw: str) -> bool:
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise FilterError(param, f"expected true or false, got {raw!r}")


def _input_condition(param: str, raw: str) -> InputCondition:
    name = param[len("inputs.") :]
    field_name, _, op = name.partition("__")
    op = op or "exact"
    if not FIELD_RE.match(field_name):
        raise FilterError(param, f"{field_name!r} is not an input field name")
    if op not in OPERATORS:
        raise FilterError(param, f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    if raw == "":
        raise FilterError(param, "needs a value")
    if len(raw) > 500:
        raise FilterError(param, "value is too long (500 characters at most)")
    return InputCondition(field=field_name, op=op, value=raw)


def parse_filters(params: QueryDict | dict[str, str]) -> EventFilter:
    """Parse query parameters into an EventFilter, or raise FilterError naming the
    first parameter that cannot be used. Unknown parameters are refused too: a typo
    in an auditor's question must not silently widen the answer."""
    values: dict[str, Any] = {}
    conditions: list[InputCondition] = []
    for param in params:
        raw = params.get(param) or ""
        raw = raw.strip()
        if param in PASSTHROUGH:
            continue
        if param.startswith("inputs."):
            conditions.append(_input_condition(param, raw))
            continue
        if param not in PARAMS:
            raise FilterError(param, "unknown filter")
        if raw == "":
            continue
        if param == "request":
            values["request_id"] = _int(param, raw)
        elif param == "workflow":
            if not SLUG_RE.match(raw):
                raise FilterError(param, f"{raw!r} is not a workflow key")
            values["workflow"] = raw
        elif param == "workflow_version":
            values["workflow_version"] = _int(param, raw)
        elif param == "event_type":
            types = tuple(t.strip() for t in raw.split(",") if t.strip())
            unknown = [t for t in types if t not in EVENT_TYPES]
            if unknown:
                raise FilterError(param, f"unknown event type {unknown[0]!r}")
            values["event_types"] = types
        elif param in ("actor", "on_behalf_of"):
            if not USERNAME_RE.match(raw):
                raise FilterError(param, f"{raw!r} is not a username")
            values[param] = raw
        elif param in ("since", "until"):
            values[param] = _moment(param, raw)
        elif param == "imported":
            values["imported"] = _bool(param, raw)
        elif param == "tier":
            if raw not in TIERS:
                raise FilterError(param, f"expected one of {', '.join(TIERS)}, got {raw!r}")
            values["tier"] = raw
    if values.get("since") and values.get("until") and values["since"] >= values["until"]:
        raise FilterError("until", "must be later than since")
    return EventFilter(**values, inputs=tuple(conditions))


class JSONNumber(Func):
    """The numeric value of ``inputs -> key``, whether stored as a JSON number or
    a numeric string ("50000.00"); NULL for anything else, never an error.

    The indexes ``audit_type_at_seq_amount`` and ``archived_type_at_seq_amount``
    (``audit.models``) hold this expression for "amount", and PostgreSQL uses them
    only for the very same SQL (the planner matches expressions, not meanings).
    Migrations build them from this class as it was when they ran: changing its
    SQL needs a migration that rebuilds them; tests/audit/test_query.py checks
    the plan."""

    output_field = models.FloatField()

    def __init__(self, key: str, column: str = "inputs"):
        self.key = key
        super().__init__(models.F(column))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        column, params = compiler.compile(self.source_expressions[0])
        text = f"({column} ->> %s)"
        sql = f"CASE WHEN {text} ~ %s THEN {text}::numeric END"
        return sql, [*params, self.key, PG_NUMBER_RE, *params, self.key]

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        # SQLite (and anything with its JSON1 functions).
        column, params = compiler.compile(self.source_expressions[0])
        path = f'$."{self.key}"'
        value = f"json_extract({column}, %s)"
        kind = f"json_type({column}, %s)"
        sql = (
            f"CASE WHEN {kind} IN ('integer', 'real') THEN {value} "
            f"WHEN {kind} = 'text' AND {value} GLOB '*[0-9]*' "
            f"AND NOT {value} GLOB '*[^0-9.+-]*' THEN CAST({value} AS REAL) END"
        )
        p = [*params, path]
        return sql, p * 6


def _input_q(qs: QuerySet, cond: InputCondition, index: int) -> QuerySet:
    alias = f"_in{index}"
    vendor = connections[qs.db].vendor
    if cond.is_number:
        qs = qs.alias(**{alias: JSONNumber(cond.field)})
        return qs.filter(**{f"{alias}__{cond.op}": float(cond.value)})
    if cond.op == "exact" and cond.value in ("true", "false"):
        qs = qs.alias(**{alias: KeyTransform(cond.field, "inputs")})
        return qs.filter(**{alias: cond.value == "true"})
    if cond.op == "exact" and vendor == "postgresql":
        # Containment is what the GIN index (jsonb_path_ops) serves.
        return qs.filter(inputs__contains={cond.field: cond.value})
    # Cast: a bare KeyTextTransform keeps the JSON lookups, which expect JSON on the right.
    qs = qs.alias(**{alias: Cast(KeyTextTransform(cond.field, "inputs"), models.TextField())})
    return qs.filter(**{f"{alias}__{cond.op}": cond.value})


def apply_filters(qs: QuerySet, flt: EventFilter) -> QuerySet:
    """Narrow an AuditEvent or ArchivedEvent queryset by ``flt``."""
    q = Q()
    if flt.request_id is not None:
        q &= Q(request_id=flt.request_id)
    if flt.workflow:
        q &= Q(workflow_key=flt.workflow)
    if flt.workflow_version is not None:
        q &= Q(workflow_version=flt.workflow_version)
    if flt.event_types:
        q &= Q(event_type__in=flt.event_types)
    if flt.actor:
        # "Everything Bob did", including what others did on his behalf.
        q &= Q(actor_username=flt.actor) | Q(on_behalf_of_username=flt.actor)
    if flt.on_behalf_of:
        q &= Q(on_behalf_of_username=flt.on_behalf_of)
    if flt.since:
        q &= Q(at__gte=flt.since)
    if flt.until:
        q &= Q(at__lt=flt.until)
    if flt.imported is not None:
        q &= Q(imported=flt.imported)
    qs = qs.filter(q)
    for index, cond in enumerate(flt.inputs):
        qs = _input_q(qs, cond, index)
    return qs
