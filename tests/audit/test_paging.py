"""Pages of events over both tiers: one order, no overlap, no gap, the right count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.filters import EventFilter
from audit.models import AuditEvent
from audit.selectors import Events, events_for

from .conftest import store_events

START = datetime(2026, 8, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def interleaved(db) -> list[tuple[str, str]]:
    """40 events, every third one archived, at times that interleave the tiers;
    four share each second and two of those four each (at, seq), on different
    chains. Returns (tier, id) newest first: at, then seq, then id descending."""
    rows = [
        {
            "tier": "archive" if n % 3 == 0 else "hot",
            "at": START + timedelta(seconds=n // 4),
            "chain": f"request:{n}",
            "seq": 1 + n % 2,
            "request_id": n,
            "event_type": "task_decided",
        }
        for n in range(40)
    ]
    stored = store_events(rows)
    tiers = {id(event): row["tier"] for event, row in zip(stored, rows, strict=True)}
    stored.sort(key=lambda e: (e.at, e.seq, e.id), reverse=True)
    return [(tiers[id(e)], str(e.id)) for e in stored]


def ids(rows: list[dict]) -> list[tuple[str, str]]:
    return [(row["tier"], str(row["id"])) for row in rows]


def walk(events: Events, per_page: int) -> list[tuple[str, str]]:
    """Every page in turn, as the auditor page reads them (Django's Paginator)."""
    paginator = Paginator(events, per_page)
    seen: list[tuple[str, str]] = []
    for number in paginator.page_range:
        seen += ids(list(paginator.page(number).object_list))
    return seen


@pytest.mark.parametrize("merge_limit", [Events.MERGE_LIMIT, 9])
@pytest.mark.parametrize("per_page", [1, 3, 7, 50])
def test_pages_over_both_tiers_follow_one_order_without_overlap_or_gap(
    auditor, interleaved, per_page, merge_limit, monkeypatch
):
    # merge_limit 9: pages past the 9th row come from the one-query union instead.
    monkeypatch.setattr(Events, "MERGE_LIMIT", merge_limit)
    events = events_for(auditor, EventFilter())
    assert events.count() == 40
    assert walk(events, per_page) == interleaved


def test_merged_pages_agree_with_the_database_order(auditor, interleaved):
    """The whole result as one SQL query (the union, ORDER BY at, seq, id) and as
    merged slices are the same sequence: ties broken alike in SQL and Python."""
    events = events_for(auditor, EventFilter())
    assert ids(list(events)) == interleaved
    assert ids(events[0:40]) == interleaved
    oldest_first = events_for(auditor, EventFilter(), newest_first=False)
    assert ids(oldest_first[0:40]) == interleaved[::-1]
    assert ids(oldest_first[5:12]) == interleaved[::-1][5:12]


def test_a_merged_page_asks_each_tier_once(auditor, interleaved):
    events = events_for(auditor, EventFilter())
    with CaptureQueriesContext(connection) as ctx:
        page = events[10:20]
    assert ids(page) == interleaved[10:20]
    assert len(ctx.captured_queries) == 2
    assert all("UNION" not in q["sql"] and "LIMIT 20" in q["sql"] for q in ctx.captured_queries)


@pytest.mark.parametrize("tier", ["hot", "archive"])
def test_the_tier_filter_reads_only_that_tier(auditor, interleaved, tier):
    events = events_for(auditor, EventFilter(tier=tier))
    expected = [row for row in interleaved if row[0] == tier]
    other = "audit_auditevent" if tier == "archive" else "audit_archivedevent"
    with CaptureQueriesContext(connection) as ctx:
        assert events.count() == len(expected)
        assert walk(events, 4) == expected
    assert not any(other in q["sql"] for q in ctx.captured_queries)


def test_an_event_archived_while_a_page_is_read_appears_once(auditor, interleaved):
    """The hot tier is read first: an event archived before the archive tier is read
    comes back from both queries, and the page keeps it once."""
    event_id = next(row_id for tier, row_id in interleaved if tier == "hot")
    hot = AuditEvent.objects.get(pk=event_id)
    columns = ("id", "at", "chain", "seq", "request_id", "event_type", "hash")
    store_events([{"tier": "archive", **{k: getattr(hot, k) for k in columns}}])
    page = events_for(auditor, EventFilter())[0:5]
    assert [row_id for _, row_id in ids(page)] == [row_id for _, row_id in interleaved[:5]]


def test_the_api_pages_and_counts_across_both_tiers(client, auditor, interleaved):
    client.force_login(auditor)
    first = client.get("/api/v1/audit/", {"page_size": 7}).json()
    second = client.get("/api/v1/audit/", {"page_size": 7, "page": 2}).json()
    assert first["count"] == second["count"] == 40
    assert [(e["tier"], e["id"]) for e in first["results"] + second["results"]] == interleaved[:14]
    last = client.get("/api/v1/audit/", {"page_size": 7, "page": 6}).json()
    assert [(e["tier"], e["id"]) for e in last["results"]] == interleaved[35:]
    assert client.get("/api/v1/audit/", {"page_size": 7, "page": 7}).status_code == 404
