"""The reports page and its selectors, on rows written directly (no engine needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals import reports
from tests.authoring.conftest import hours, make_request, make_task, make_workflow
from tests.factories import RoleFactory, add_members

pytestmark = pytest.mark.django_db


@pytest.fixture
def purchase_order():
    return make_workflow()


@pytest.fixture
def finished_requests(purchase_order, requester, now):
    """Five requests decided in 1, 2, 3, 4 and 10 hours; one cancelled long ago."""
    for n in (1, 2, 3, 4, 10):
        created = now - timedelta(days=2)
        make_request(
            purchase_order, requester, created=created, state="approved", decided=created + hours(n)
        )
    old = now - timedelta(days=200)
    make_request(purchase_order, requester, created=old, state="cancelled", decided=old + hours(1))


def period(now, days: int = 30) -> reports.Period:
    return reports.Period(start=now - timedelta(days=days), end=now + timedelta(minutes=1))


def test_percentile_interpolates_between_ranks():
    assert reports.percentile([1, 2, 3, 4, 10], 50) == 3
    assert reports.percentile([1, 2, 3, 4, 10], 90) == pytest.approx(7.6)
    assert reports.percentile([5], 90) == 5
    assert reports.percentile([], 50) is None


def test_time_to_decision_median_and_p90(finished_requests, purchase_order, now):
    stats = reports.decision_times(period(now))[purchase_order.pk]

    assert stats.count == 5  # the request decided 200 days ago is outside the period
    assert stats.median == hours(3)
    assert stats.p90 == hours(7.6)
    assert stats.p90_text == "7 h 36 m"


def test_open_requests_by_age(purchase_order, requester, now):
    for age in (hours(2), timedelta(days=2), timedelta(days=5), timedelta(days=10)):
        make_request(purchase_order, requester, created=now - age)
    make_request(purchase_order, requester, created=now - hours(30), state="changes_requested")
    make_request(purchase_order, requester, created=now - hours(3), state="approved", decided=now)

    ages = reports.open_by_age(now)[purchase_order.pk]

    assert ages == {"<1d": 1, "1-3d": 2, "3-7d": 1, ">7d": 1}


def test_sla_breach_rate_counts_late_and_overdue_tasks(purchase_order, requester, manager, now):
    req = make_request(purchase_order, requester, created=now - timedelta(days=3))
    start = now - timedelta(days=3)
    # decided in time, decided late, open past due, open and not due yet, no SLA
    make_task(
        req,
        "manager",
        manager,
        created=start,
        state="approved",
        decided=start + hours(1),
        due=start + hours(4),
    )
    make_task(
        req,
        "manager",
        manager,
        created=start,
        state="rejected",
        decided=start + hours(9),
        due=start + hours(4),
    )
    make_task(req, "finance", manager, created=start, due=now - hours(1))
    make_task(req, "finance", manager, created=start, due=now + hours(1))
    make_task(req, "finance", manager, created=start)

    rate = reports.sla_rates(period(now), now)[purchase_order.pk]
    steps = {s.step_id: s for s in reports.step_times(purchase_order, period(now), now)}

    assert (rate.breached, rate.with_due) == (2, 3)
    assert rate.rate_text == "67%"
    assert (steps["manager"].sla.breached, steps["manager"].sla.with_due) == (1, 2)
    assert (steps["finance"].sla.breached, steps["finance"].sla.with_due) == (1, 1)


def test_time_per_step_and_bottleneck_heatmap(purchase_order, requester, manager, finance, now):
    frank, fiona = finance.members.order_by("username").filter(username__in=["frank", "fiona"])[
        ::-1
    ]
    start = now - timedelta(days=10)
    for n, wait in enumerate((1, 3, 20)):
        req = make_request(purchase_order, requester, created=start)
        make_task(
            req,
            "manager",
            manager,
            created=start + hours(n),
            state="approved",
            decided=start + hours(n + wait),
        )
    req = make_request(purchase_order, requester, created=start)
    later = start + hours(30)
    make_task(req, "finance", frank, created=later, state="approved", decided=later + hours(50))
    make_task(req, "finance", fiona, created=now - hours(200))  # still open: waiting 200 h
    make_task(req, "finance", fiona, created=later, state="cancelled", decided=later + hours(1))

    steps = reports.step_times(purchase_order, period(now, 30), now)
    heat = reports.bottlenecks(purchase_order, period(now, 30), now)

    assert [s.step_id for s in steps] == ["manager", "finance"]
    assert steps[0].stats.count == 3
    assert steps[0].stats.median == hours(3)
    assert steps[1].stats.count == 1  # the cancelled task says nothing about waiting
    assert heat.steps == ["manager", "finance"]
    assert heat.approvers == ["fiona", "frank", "manager"]
    assert heat.cells[("manager", "manager")].median == hours(3)
    assert heat.cells[("manager", "manager")].level == 1  # 1 to 4 hours
    assert heat.cells[("finance", "frank")].level == 3  # 1 to 3 days
    assert heat.cells[("finance", "fiona")].level == 5  # over a week, still open
    assert ("manager", "fiona") not in heat.cells


def test_author_sees_the_numbers_on_the_page(client, author, finished_requests, now):
    client.force_login(author)

    page = client.get("/reports/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Purchase order" in html
    assert "3 h" in html and "7 h 36 m" in html
    assert "at most\n    90 days" in html or "at most 90 days" in " ".join(html.split())


def test_page_for_one_workflow_shows_steps_and_heatmap(
    client, author, purchase_order, requester, manager, now
):
    req = make_request(purchase_order, requester, created=now - hours(50))
    make_task(
        req, "manager", manager, created=now - hours(50), state="approved", decided=now - hours(48)
    )
    client.force_login(author)

    page = client.get("/reports/", {"workflow": "purchase_order"})

    html = page.content.decode()
    assert page.status_code == 200
    assert "Time per step" in html
    assert 'class="heat-1"' in html  # two hours: the 1 to 4 hours shade
    assert 'style="' not in html.split('id="heat-h"')[1]  # shading by class, not inline style


def test_auditor_may_see_reports(client, outsider, finished_requests):
    add_members(RoleFactory(name="auditors"), outsider)
    client.force_login(outsider)

    assert client.get("/reports/").status_code == 200


def test_outsider_is_refused(client, outsider, finished_requests):
    client.force_login(outsider)

    page = client.get("/reports/")

    assert page.status_code == 403
    assert b"7 h 36 m" not in page.content


def test_anonymous_is_sent_to_login(client, finished_requests):
    page = client.get("/reports/")

    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-13-45"},
        {"start": "2026-05-01", "end": "2026-01-01"},
        {"start": "2020-01-01", "end": "2026-01-01"},
        {"workflow": "no-such-workflow"},
        {"workflow": "<script>"},
    ],
)
def test_bad_filters_are_located_errors_not_failures(client, author, finished_requests, query):
    client.force_login(author)

    page = client.get("/reports/", query)

    assert page.status_code == 200
    assert b"reports__error" in page.content
    assert b"<script>" not in page.content


def test_report_queries_do_not_grow_with_workflows_or_rows(
    client, author, requester, manager, now, django_assert_max_num_queries
):
    def add(key: str) -> None:
        workflow = make_workflow(key, key.title())
        for n in (1, 5):
            req = make_request(
                workflow, requester, created=now - hours(n), state="approved", decided=now
            )
            make_task(
                req,
                "manager",
                manager,
                created=now - hours(n),
                state="approved",
                decided=now,
                due=now,
            )

    client.force_login(author)
    add("first")
    with CaptureQueriesContext(connection) as few:
        client.get("/reports/", {"workflow": "first"})
    for key in ("second", "third", "fourth"):
        add(key)
    with django_assert_max_num_queries(len(few)):
        page = client.get("/reports/", {"workflow": "first"})
    assert page.status_code == 200
