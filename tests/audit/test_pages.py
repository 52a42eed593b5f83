"""The auditor pages: the query page and a request replayed event by event."""

from __future__ import annotations

import pytest

from audit.selectors import request_timeline, state_after

from .conftest import new_request


@pytest.fixture
def story(purchase_order, requester, emit):
    order = new_request(purchase_order, requester, {"amount": "52000.00", "vendor": "Acme"})
    emit(order, "request_submitted", "requester", state="pending")
    emit(order, "task_decided", "delegate", on_behalf_of="manager",
         payload={"decision": "approve", "comment": "for Bob, who is away"})
    emit(order, "comment_added", "requester", payload={"comment": "thanks"})
    emit(order, "request_approved", "delegate", state="approved")
    return order


def test_state_after_replays_the_request_as_it_stood(story):
    assert [e["event_type"] for e in request_timeline(story.pk)] == [
        "request_submitted", "task_decided", "comment_added", "request_approved"
    ]
    assert state_after(story.pk, 1)["state"] == "pending"
    assert state_after(story.pk, 4)["state"] == "approved"
    assert state_after(story.pk, 99) is None


def test_the_replay_page_shows_the_life_and_the_state_after_an_event(client, auditor, story):
    client.force_login(auditor)
    page = client.get(f"/audit/requests/{story.pk}/", {"seq": 1}).content.decode()
    assert "As it stood after event 1" in page
    assert "pending" in page and "for Bob, who is away" in page
    assert "for manager" in page  # on behalf of
    last = client.get(f"/audit/requests/{story.pk}/").content.decode()
    assert "As it stood after event 4" in last and "approved" in last


def test_the_query_page_filters_and_links_the_export(client, auditor, story):
    client.force_login(auditor)
    response = client.get(
        "/audit/",
        {"actor": "manager", "input_field": "amount", "input_op": "gte", "input_value": "50000"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "task_decided" in page and "request_submitted" not in page.split("<tbody>")[1]
    assert "/api/v1/audit/export/?actor=manager&amp;inputs.amount__gte=50000" in page


def test_a_malformed_filter_on_the_page_is_a_400_naming_it(client, auditor, story):
    client.force_login(auditor)
    response = client.get("/audit/", {"since": "soon"})
    assert response.status_code == 400
    assert "since" in response.content.decode()


def test_pages_need_a_login(client, db):
    assert client.get("/audit/").status_code == 302
    assert client.get("/audit/requests/1/").status_code == 302
