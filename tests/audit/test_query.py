"""The auditors' questions, through the real engine and the API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from approvals import services
from approvals.models import Request
from tests.conftest import postgres_only
from tests.factories import PersonFactory, RoleFactory, add_members

from .conftest import store_events

DEMO = Path(__file__).resolve().parents[2] / "approvals" / "demo"
LIST = "/api/v1/audit/"
EXPORT = "/api/v1/audit/export/"


@pytest.fixture
def published_po(admins_role, finance, db):
    """The example purchase order: restricted, procurement-auditors may look on."""
    RoleFactory(name="procurement-auditors")
    version, _ = services.publish(source=(DEMO / "purchase_order.yaml").read_text())
    return version


def run_order(requester, amount: str, *, decided: datetime, approve: bool = True) -> Request:
    """Submit a purchase order a day before ``decided``, then have every open task
    decided at ``decided`` (manager, then finance when over 5,000)."""
    with time_machine.travel(decided.replace(hour=9), tick=False):
        request = services.submit(
            workflow_key="purchase_order",
            requester=requester,
            inputs={"amount": amount, "vendor": "Acme"},
        )
    with time_machine.travel(decided, tick=False):
        while True:
            task = request.tasks.filter(state="open").order_by("pk").first()
            if task is None:
                break
            decision = "approve" if approve else "reject"
            services.decide(
                task_id=task.pk, actor=task.assignee, decision=decision, comment="checked"
            )
    request.refresh_from_db()
    return request


def q3(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 15, 0, tzinfo=UTC)


@pytest.fixture
def orders(published_po, requester, manager, finance):
    return {
        "big_q3": run_order(requester, "75000.00", decided=q3(8, 10)),
        "edge_q3": run_order(requester, "50000.00", decided=q3(9, 30)),
        "small_q3": run_order(requester, "49999.99", decided=q3(8, 11)),
        "big_q4": run_order(requester, "120000.00", decided=q3(10, 2)),
        "rejected_q3": run_order(requester, "60000.00", decided=q3(7, 20), approve=False),
    }


@pytest.fixture
def auditor(grandboss):
    person = PersonFactory(username="audrey", manager=grandboss)
    return add_members(RoleFactory(name="auditors"), person) and person


def results(client, params: dict[str, str]) -> list[dict]:
    response = client.get(LIST, {**params, "page_size": 500})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_every_purchase_order_over_50000_approved_in_q3(client, auditor, orders):
    client.force_login(auditor)
    question = {
        "workflow": "purchase_order",
        "event_type": "request_approved",
        "since": "2026-07-01",
        "until": "2026-10-01",
        "inputs.amount__gte": "50000",
    }
    approved = results(client, question)
    assert sorted(e["request"] for e in approved) == sorted(
        [orders["big_q3"].pk, orders["edge_q3"].pk]
    )
    assert all(e["inputs"]["amount"] in ("75000.00", "50000.00") for e in approved)

    # ...and who approved them: the approving decisions on exactly those requests.
    approved_ids = {e["request"] for e in approved}
    decisions = results(client, {**question, "event_type": "task_decided"})
    who = {
        (e["request"], e["actor"]["user"])
        for e in decisions
        if e["request"] in approved_ids and e["payload"]["decision"] == "approve"
    }
    big, edge = orders["big_q3"].pk, orders["edge_q3"].pk
    # The finance step takes any one of its two members: the first task (fiona's) decides.
    assert who == {(big, "manager"), (big, "fiona"), (edge, "manager"), (edge, "fiona")}


def test_numbers_compare_numerically_against_money_strings(client, auditor, orders):
    client.force_login(auditor)
    base = {"event_type": "request_submitted"}

    def ids(**extra: str) -> set[int]:
        return {e["request"] for e in results(client, {**base, **extra})}

    assert ids(**{"inputs.amount": "50000"}) == {orders["edge_q3"].pk}
    assert ids(**{"inputs.amount__lt": "50000"}) == {orders["small_q3"].pk}
    assert ids(**{"inputs.amount__gt": "100000"}) == {orders["big_q4"].pk}
    assert ids(**{"inputs.amount__lte": "50000.00", "inputs.amount__gt": "49999.98"}) == {
        orders["edge_q3"].pk,
        orders["small_q3"].pk,
    }
    assert len(ids(**{"inputs.vendor": "Acme"})) == 5
    assert ids(**{"inputs.vendor": "Other"}) == set()


def test_actor_filter_includes_acting_on_behalf(client, auditor, requester, manager, emit_behalf):
    client.force_login(auditor)
    mine = results(client, {"actor": "manager"})
    assert {e["actor"]["user"] for e in mine} == {"manager", "delegate"}
    behalf = results(client, {"on_behalf_of": "manager"})
    assert [e["actor"]["user"] for e in behalf] == ["delegate"]


@pytest.fixture
def emit_behalf(purchase_order, requester, emit, delegate):
    from .conftest import new_request

    req = new_request(purchase_order, requester, {"amount": "10.00"})
    emit(req, "request_submitted", "requester")
    emit(req, "task_decided", "delegate", on_behalf_of="manager")
    emit(req, "request_approved", "manager")
    return req


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("since", "last tuesday"),
        ("until", "2026-13-40"),
        ("request", "abc"),
        ("event_type", "request_teleported"),
        ("inputs.amount__between", "1"),
        ("inputs.amount", ""),
        ("inputs.a-b", "1"),
        ("actor", "bob smith!"),
        ("imported", "maybe"),
        ("tier", "lukewarm"),
        ("input.amount__gte", "50000"),
    ],
)
def test_malformed_filters_are_a_400_naming_the_parameter(client, auditor, param, value):
    client.force_login(auditor)
    response = client.get(LIST, {param: value})
    assert response.status_code == 400
    assert param in response.json()
    export = client.get(EXPORT, {param: value})
    assert export.status_code == 400


def test_any_offset_python_reads_is_answered_on_every_database(client, auditor, orders):
    """+23:59 is a valid ISO offset but out of PostgreSQL's range (it was a 500 there):
    the filter compares in UTC. A moment before year 1 or after 9999 in UTC is a 400."""
    client.force_login(auditor)
    rejected = orders["rejected_q3"]  # submitted 2026-07-20T09:00Z
    base = {"event_type": "request_submitted", "request": str(rejected.pk)}
    # 2026-07-21T08:59+23:59 is 2026-07-20T09:00Z exactly; a minute later is after it.
    assert len(results(client, {**base, "since": "2026-07-21T08:59:00+23:59"})) == 1
    assert results(client, {**base, "since": "2026-07-21T09:00:00+23:59"}) == []
    assert results(client, {**base, "until": "2026-07-21T08:59:00+23:59"}) == []
    for param, value in (
        ("since", "0001-01-01T00:00:00+01:00"),
        ("until", "9999-12-31T23:00:00-05:00"),
    ):
        response = client.get(LIST, {param: value})
        assert response.status_code == 400 and param in response.json()
        assert client.get(EXPORT, {param: value}).status_code == 400


def test_until_before_since_is_refused(client, auditor):
    client.force_login(auditor)
    response = client.get(LIST, {"since": "2026-10-01", "until": "2026-07-01"})
    assert response.status_code == 400 and "until" in response.json()


def test_anonymous_callers_are_refused(client, db):
    assert client.get(LIST).status_code in (401, 403)
    assert client.get(EXPORT).status_code in (401, 403)
    assert client.get("/api/v1/audit/verify/").status_code in (401, 403)


def test_export_streams_the_same_answer_as_csv(client, auditor, orders):
    client.force_login(auditor)
    response = client.get(
        EXPORT,
        {"event_type": "request_approved", "inputs.amount__gte": "50000"},
    )
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(int(r["request"]) for r in rows) == sorted(
        [orders["big_q3"].pk, orders["edge_q3"].pk, orders["big_q4"].pk]
    )
    assert rows == sorted(rows, key=lambda r: r["at"])  # oldest first
    assert all(r["event_type"] == "request_approved" and r["hash"] for r in rows)


def test_the_verify_endpoint_is_for_auditors_only(client, auditor, requester, orders):
    client.force_login(requester)
    assert client.get("/api/v1/audit/verify/").status_code == 403
    client.force_login(auditor)
    body = client.get("/api/v1/audit/verify/").json()
    assert body["ok"] is True and body["checked"] > 0 and "first_broken" not in body


def _index_conditions(plan: dict) -> dict[str, str]:
    """Index name -> its Index Cond, for every index scan in an EXPLAIN (FORMAT JSON) plan."""
    found = {}
    if "Index Name" in plan:
        found[plan["Index Name"]] = plan.get("Index Cond", "")
    for child in plan.get("Plans", []):
        found.update(_index_conditions(child))
    return found


def _approvals_in_q3(amounts: list[str]) -> None:
    """request_approved events of requests 1, 2, … with these amounts, in August
    2026, hot and as many archived, each after two other events of its request, as
    in a real trail (rows for the planner's statistics)."""
    moment = datetime(2026, 8, 10, tzinfo=UTC)
    store_events(
        [
            {
                "tier": tier,
                "at": moment,
                "chain": f"request:{n}",
                "seq": seq,
                "request_id": n,
                "workflow_version": 1,
                "event_type": event_type,
                "inputs": {"amount": amount},
            }
            for tier in ("hot", "archive")
            for n, amount in enumerate(amounts, 1)
            for seq, event_type in enumerate(
                ("request_submitted", "task_decided", "request_approved"), 1
            )
        ]
    )


@postgres_only
def test_the_amount_question_is_answered_from_the_amount_index(auditor):
    """audit_type_at_seq_amount indexes the very SQL JSONNumber("amount") produces;
    were they to drift apart, the planner would silently go back to reading every
    approval in the quarter. Each tier's page query reads that index backwards,
    with the amount as an index condition, and stops at the page's end."""
    import json

    from django.db import connection

    from audit.filters import parse_filters
    from audit.selectors import events_for

    # Two answers among 3,000 approvals (9,000 events): the index that fits is far the cheapest.
    _approvals_in_q3(["75000.00", "50000"] + [f"{n}.00" for n in range(1, 3000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
        cursor.execute("ANALYZE audit_archivedevent")
    flt = parse_filters(
        {
            "event_type": "request_approved",
            "since": "2026-07-01",
            "until": "2026-10-01",
            "inputs.amount__gte": "50000",
        }
    )
    answer = [(row["tier"], row["request_id"]) for row in events_for(auditor, flt)]
    assert sorted(answer) == [("archive", 1), ("archive", 2), ("hot", 1), ("hot", 2)]
    pages = events_for(auditor, flt).tier_pages(50)
    for page, index in zip(
        pages, ("audit_type_at_seq_amount", "archived_type_at_seq_amount"), strict=True
    ):
        [plan] = json.loads(page.explain(format="json"))
        assert plan["Plan"]["Node Type"] == "Limit", plan
        conditions = _index_conditions(plan["Plan"])
        assert list(conditions) == [index], conditions
        assert "inputs ->> 'amount'" in conditions[index] and ">= 50000" in conditions[index]
