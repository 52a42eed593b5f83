"""An auditor answers the question in a real browser: filter, open, replay."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine

from approvals import services
from audit.models import AuditEvent
from tests.factories import RoleFactory

from .test_query import DEMO

pytestmark = pytest.mark.browser


@pytest.fixture
def approved_orders(admins_role, finance, requester, manager):
    RoleFactory(name="procurement-auditors")
    services.publish(source=(DEMO / "purchase_order.yaml").read_text())
    made = []
    for amount, day in (("75000.00", 10), ("900.00", 11)):
        with time_machine.travel(datetime(2026, 8, day, 9, tzinfo=UTC), tick=False):
            request = services.submit(
                workflow_key="purchase_order", requester=requester,
                inputs={"amount": amount, "vendor": "Acme"},
            )
            while task := request.tasks.filter(state="open").order_by("pk").first():
                services.decide(task_id=task.pk, actor=task.assignee, decision="approve")
        made.append(request)
    return made


def test_auditor_finds_the_big_q3_order_and_replays_it(open_session, auditor, approved_orders):
    big, _small = approved_orders
    session = open_session("audrey")
    page = session.go("/audit/")
    page.get_by_label("Event", exact=True).select_option("request_approved")
    page.get_by_label("Since", exact=True).fill("2026-07-01")
    page.get_by_label("Before", exact=True).fill("2026-10-01")
    page.get_by_label("Input", exact=True).fill("amount")
    page.get_by_label("Compare", exact=True).select_option("gte")
    page.get_by_label("Value", exact=True).fill("50000")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 1
    assert f"#{big.pk}" in rows.first.inner_text()
    session.screenshot("audit-query")
    page.get_by_role("link", name=f"#{big.pk}").click()
    page.wait_for_url(re.compile(rf"/audit/requests/{big.pk}/"))
    last = AuditEvent.objects.filter(request_id=big.pk).order_by("-seq").first()
    assert page.get_by_role("heading", name=f"As it stood after event {last.seq}").is_visible()
    assert "STATE\napproved" in page.locator("#state").locator("..").inner_text()
    page.get_by_role("link", name=re.compile(r"^1\. request_submitted")).click()
    assert page.get_by_role("heading", name="As it stood after event 1").is_visible()
    recorded = AuditEvent.objects.get(request_id=big.pk, seq=1).snapshot["state"]
    assert f"STATE\n{recorded}" in page.locator("#state").locator("..").inner_text()
    session.screenshot("audit-replay")
