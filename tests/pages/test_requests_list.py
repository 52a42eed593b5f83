"""The requests list: states, filters and search over what I may see."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals import services
from tests.pages.conftest import open_task


def listed(response) -> list[int]:
    return [row["req"].pk for row in response.context["rows"]]


def test_my_requests_by_default(make_po, as_user, requester, manager):
    mine = make_po()
    other = make_po(who=manager)
    response = as_user(requester).get("/requests/")
    assert listed(response) == [mine.pk]
    assert other.pk not in listed(response)


def test_all_i_can_see_includes_tasks_of_mine(make_po, as_user, requester, manager):
    mine = make_po()
    theirs = make_po(who=manager)  # grandboss decides; the requester may not see it
    manager_view = as_user(manager).get("/requests/?scope=all")
    assert set(listed(manager_view)) == {mine.pk, theirs.pk}
    requester_view = as_user(requester).get("/requests/?scope=all")
    assert listed(requester_view) == [mine.pk]


def test_filter_by_state(make_po, as_user, requester, manager):
    approved = make_po(amount="10.00")
    services.decide(task_id=open_task(approved).pk, actor=manager, decision="approve")
    pending = make_po()
    client = as_user(requester)
    assert listed(client.get("/requests/?state=approved")) == [approved.pk]
    assert listed(client.get("/requests/?state=pending")) == [pending.pk]


def test_search_titles_and_inputs(make_po, as_user, requester):
    acme = make_po(vendor="Acme", reason="ergonomic chairs")
    globex = make_po(vendor="Globex")
    client = as_user(requester)
    assert listed(client.get("/requests/?q=globex")) == [globex.pk]
    assert listed(client.get("/requests/?q=ergonomic")) == [acme.pk]
    assert listed(client.get("/requests/?q=nothing-like-it")) == []


def test_bad_filter_values_are_reported_not_500(make_po, as_user, requester):
    make_po()
    response = as_user(requester).get("/requests/?state=bogus&page=abc&workflow=%00")
    assert response.status_code == 200


def test_list_costs_the_same_queries_for_1_and_20_requests(make_po, as_user, requester):
    make_po()
    client = as_user(requester)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/requests/?scope=all").status_code == 200
        return len(ctx.captured_queries)

    one = count()
    for i in range(19):
        make_po(vendor=f"V{i}")
    assert count() == one
