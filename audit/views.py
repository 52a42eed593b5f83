"""The auditor pages: query the trail, and replay one request event by event.

Thin: parse the query, call a selector, render. Everyone signed in may use
them and sees only what ``restrict_to_visible`` lets through; auditors see all.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from .choices import EVENT_TYPES, TIERS
from .filters import OPERATORS, PARAMS, EventFilter, FilterError, parse_filters
from .permissions import is_auditor
from .selectors import events_for, hydrate, request_timeline, state_after

PAGE_SIZE = 50
# The page's one input condition, as three form fields (the API spells it inputs.F__op=V).
INPUT_FIELDS = ("input_field", "input_op", "input_value")


def _query(get: Any) -> dict[str, str]:
    """The page's form fields as the filter parameters the API takes."""
    params = {k: get[k] for k in get if k in PARAMS or k.startswith("inputs.")}
    field = (get.get("input_field") or "").strip()
    if field:
        op = get.get("input_op") or "exact"
        suffix = "" if op == "exact" else f"__{op}"
        params[f"inputs.{field}{suffix}"] = get.get("input_value") or ""
    return params


@login_required
def events_page(request: HttpRequest) -> HttpResponse:
    params = _query(request.GET)
    error: FilterError | None = None
    try:
        flt = parse_filters(params)
    except FilterError as exc:
        error, flt = exc, EventFilter()
    page = None
    rows: list[dict[str, Any]] = []
    if error is None:
        page = Paginator(events_for(request.user, flt), PAGE_SIZE).get_page(request.GET.get("page"))
        rows = hydrate(list(page.object_list))
    query = urlencode(params)
    context = {
        "rows": rows,
        "page": page,
        "error": error,
        "form": {k: request.GET.get(k, "") for k in (*PARAMS, *INPUT_FIELDS)},
        "query": query,
        "export_url": f"{reverse('api-audit-export')}?{query}",
        "event_types": EVENT_TYPES,
        "tiers": TIERS,
        "operators": OPERATORS,
        "auditor": is_auditor(request.user),
    }
    return render(request, "audit/events.html", context, status=400 if error else 200)


def _snapshot_view(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """A snapshot split for display: plain facts, inputs, tasks, and the rest as JSON."""
    snapshot = dict(snapshot or {})
    inputs = snapshot.pop("inputs", None)
    tasks = snapshot.pop("tasks", None)
    facts = [(k, v) for k, v in snapshot.items() if not isinstance(v, dict | list)]
    rest = {k: v for k, v in snapshot.items() if isinstance(v, dict | list)}
    columns: list[str] = []
    if isinstance(tasks, list):
        for task in tasks:
            if isinstance(task, dict):
                columns += [c for c in task if c not in columns]
    return {
        "facts": facts,
        "inputs": sorted(inputs.items()) if isinstance(inputs, dict) else [],
        "task_columns": columns,
        "tasks": [[t.get(c, "") for c in columns] for t in (tasks or []) if isinstance(t, dict)],
        "rest": json.dumps(rest, indent=2, sort_keys=True, ensure_ascii=False) if rest else "",
    }


@login_required
def request_page(request: HttpRequest, request_id: int) -> HttpResponse:
    timeline = request_timeline(request_id, person=request.user)
    if not timeline:
        return render(request, "audit/request.html", {"request_id": request_id}, status=404)
    raw_seq = request.GET.get("seq", "")
    seq = int(raw_seq) if raw_seq.isdigit() else timeline[-1]["seq"]
    if not any(e["seq"] == seq for e in timeline):
        seq = timeline[-1]["seq"]
    state = state_after(request_id, seq, person=request.user)
    context = {
        "request_id": request_id,
        "timeline": timeline,
        "seq": seq,
        "state": _snapshot_view(state),
        "event": next(e for e in timeline if e["seq"] == seq),
    }
    return render(request, "audit/request.html", context)
