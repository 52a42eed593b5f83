"""Reads of the audit trail: one query over both tiers, replay, export rows.

Every read takes the person asking and narrows by ``restrict_to_visible``
first, so the API, the pages and the export cannot disagree on who sees what.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import models
from django.db.models import QuerySet, Value

from .archive import archived_bodies
from .filters import EventFilter, apply_filters
from .models import ArchivedEvent, AuditEvent
from .permissions import restrict_to_visible

# The columns both tiers share, in the order of the union's select list.
COLUMNS = (
    "id",
    "at",
    "chain",
    "seq",
    "request_id",
    "workflow_key",
    "workflow_version",
    "event_type",
    "actor",
    "inputs",
    "imported",
    "prev_hash",
    "hash",
)


EXTRA = ("tier", "archive_ref", "line_ref", "payload_ref", "snapshot_ref")
_NO_VISIBILITY = object()


def _as_rows(qs: QuerySet, tier: str) -> QuerySet:
    """One tier's events as dicts with the same columns, so the tiers union."""
    if tier == "hot":
        qs = qs.annotate(
            tier=Value("hot", output_field=models.CharField()),
            archive_ref=Value(None, output_field=models.BigIntegerField()),
            line_ref=Value(None, output_field=models.BigIntegerField()),
            payload_ref=models.F("payload"),
            snapshot_ref=models.F("snapshot"),
        )
    else:
        qs = qs.annotate(
            tier=Value("archive", output_field=models.CharField()),
            archive_ref=models.F("archive_id"),
            line_ref=models.F("line"),
            payload_ref=Value(None, output_field=models.JSONField()),
            snapshot_ref=Value(None, output_field=models.JSONField()),
        )
    # No per-side ORDER BY: the union is ordered as a whole.
    return qs.order_by().values(*COLUMNS, *EXTRA)


def _tier(model: type, tier: str, person: Any, flt: EventFilter) -> QuerySet:
    qs = apply_filters(model.objects.all(), flt)
    if person is not _NO_VISIBILITY:
        qs = restrict_to_visible(person, qs)
    return _as_rows(qs, tier)


def _both(person: Any, flt: EventFilter) -> QuerySet:
    if flt.tier == "hot":
        return _tier(AuditEvent, "hot", person, flt)
    if flt.tier == "archive":
        return _tier(ArchivedEvent, "archive", person, flt)
    return _tier(AuditEvent, "hot", person, flt).union(
        _tier(ArchivedEvent, "archive", person, flt), all=True
    )


def events_for(person: Any, flt: EventFilter, *, newest_first: bool = True) -> QuerySet:
    """The events ``person`` may see that match ``flt``, from the tiers it names,
    as dicts (``COLUMNS`` plus ``tier``); pass pages through ``hydrate`` to fill
    in archived payloads and snapshots."""
    order = ("-at", "-seq") if newest_first else ("at", "seq")
    return _both(person, flt).order_by(*order)


def hydrate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows from ``events_for`` with ``payload`` and ``snapshot`` filled in: hot
    rows carry them, archived ones are read from their files (a file that is
    missing or damaged leaves them None and sets ``unavailable``)."""
    positions = [(r["archive_ref"], r["line_ref"]) for r in rows if r["tier"] == "archive"]
    bodies = archived_bodies(positions) if positions else {}
    out = []
    for row in rows:
        row = dict(row)
        if row["tier"] == "archive":
            body = bodies.get((row["archive_ref"], row["line_ref"]))
            row["payload_ref"] = body.get("payload") if body else None
            row["snapshot_ref"] = body.get("snapshot") if body else None
            row["unavailable"] = body is None
        row["payload"] = row.pop("payload_ref")
        row["snapshot"] = row.pop("snapshot_ref")
        out.append(row)
    return out


def iter_hydrated(qs: QuerySet, *, chunk_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Stream a whole ``events_for`` result, hydrating a chunk at a time."""
    chunk: list[dict[str, Any]] = []
    for row in qs.iterator(chunk_size=chunk_size):
        chunk.append(row)
        if len(chunk) >= chunk_size:
            yield from hydrate(chunk)
            chunk = []
    if chunk:
        yield from hydrate(chunk)


def request_timeline(request_id: int, *, person: Any = None) -> list[dict[str, Any]]:
    """A request's life, event by event, oldest first, across both tiers. With
    ``person``, only what they may see (nothing for a request hidden from them);
    without, everything (internal use: replay for auditors, commands)."""
    flt = EventFilter(request_id=request_id)
    who = _NO_VISIBILITY if person is None else person
    return hydrate(list(_both(who, flt).order_by("seq")))


def state_after(request_id: int, seq: int, *, person: Any = None) -> dict[str, Any] | None:
    """The request as it stood right after its event ``seq``: that event's
    snapshot, or the latest earlier one when the event carried none (a comment).
    None if the request has no such event (or none ``person`` may see)."""
    timeline = [e for e in request_timeline(request_id, person=person) if e["seq"] <= seq]
    if not timeline or timeline[-1]["seq"] != seq:
        return None
    for event in reversed(timeline):
        if event["snapshot"]:
            return event["snapshot"]
    return {}
