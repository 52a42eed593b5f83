"""The inbox page: my open tasks, decided inline or in bulk, in one query."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template import engines
from django.template.defaultfilters import timesince_filter, timeuntil_filter
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import selectors, services
from approvals.models import Task
from approvals.views import inbox as inbox_view
from tests.factories import PersonFactory
from tests.pages.conftest import PURCHASE_ORDER, open_task


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_inbox_lists_my_open_tasks_with_a_summary_of_the_inputs(make_po, as_user, manager):
    req = make_po(amount="1200.00", vendor="Acme")
    page = as_user(manager).get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"#{req.pk} Acme order" in html
    assert "Amount 1,200.00 · Vendor Acme" in html
    assert "Alice Requester" in html


def test_inbox_of_someone_else_does_not_show_my_tasks(make_po, as_user, outsider):
    req = make_po()
    html = as_user(outsider).get("/").content.decode()
    assert f"#{req.pk} " not in html
    assert "all caught up" in html


def test_overdue_tasks_come_first_and_are_highlighted(make_po, as_user, manager):
    make_po(vendor="Later")
    overdue = make_po(vendor="Overdue")
    Task.objects.filter(request=overdue).update(due_at=timezone.now() - timedelta(hours=2))
    html = as_user(manager).get("/").content.decode()
    assert html.index("Overdue order") < html.index("Later order")
    task = open_task(overdue)
    assert f'class="task task--overdue" id="task-{task.pk}"' in html
    assert "1 overdue" in html


def test_filters_by_workflow_and_overdue(make_po, as_user, manager):
    make_po(vendor="Fresh")
    late = make_po(vendor="Stale")
    Task.objects.filter(request=late).update(due_at=timezone.now() - timedelta(hours=1))
    client = as_user(manager)
    html = client.get("/?due=overdue").content.decode()
    assert "Stale order" in html and "Fresh order" not in html
    html = client.get("/?workflow=nope").content.decode()  # not a choice: ignored, all shown
    assert "Stale order" in html and "Fresh order" in html
    html = client.get("/?workflow=purchase_order&due=soon").content.decode()
    assert "Stale order" in html


def test_on_behalf_of_and_the_chain_are_shown(make_po, as_user, manager, delegate, grandboss):
    req = make_po()
    # The engine records a delegation like this when the manager is away.
    helper = PersonFactory(username="helper", name="Hank Helper", manager=grandboss)
    Task.objects.filter(request=req).update(
        assignee=helper, on_behalf_of=manager, delegation_chain=["manager", "delegate", "helper"]
    )
    html = as_user(helper).get("/").content.decode()
    assert "On behalf of Bob Manager, via Carol Delegate" in html


def _count_inbox_queries(client, path: str = "/") -> int:
    client.get(path)  # warm up: parsed recipes are cached per process
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _delegated_via_helper(req, manager, grandboss) -> None:
    """Make the request's task one that came to the manager on behalf of the grandboss,
    through a helper: the page then also looks up the names in the chain."""
    PersonFactory(username=f"helper{req.pk}", name="Hank Helper", manager=grandboss)
    Task.objects.filter(request=req).update(
        on_behalf_of=grandboss,
        delegation_chain=["grandboss", f"helper{req.pk}", "manager"],
    )


def test_inbox_costs_the_same_queries_for_10_and_120_tasks(make_po, as_user, manager,
                                                           grandboss):
    _delegated_via_helper(make_po(vendor="Delegated"), manager, grandboss)
    for i in range(9):
        make_po(vendor=f"Vendor{i}")
    client = as_user(manager)
    ten = _count_inbox_queries(client)
    for i in range(110):
        make_po(vendor=f"More{i}")
    assert _count_inbox_queries(client) == ten
    # Other pages and filters: no more (one less when no task there came through a chain).
    assert _count_inbox_queries(client, "/?page=3") <= ten
    assert _count_inbox_queries(client, "/?workflow=purchase_order&due=soon&page=2") <= ten
    assert ten <= 6  # session, user, header flags, workflows and counts, page, chain names


def test_the_inbox_pages_by_50_and_keeps_the_order_and_filters(make_po, as_user, manager):
    made = [make_po(vendor=f"V{i:03}") for i in range(120)]
    Task.objects.filter(request=made[-1]).update(due_at=timezone.now() - timedelta(hours=1))
    client = as_user(manager)
    first = client.get("/")
    ids = [item["request_id"] for item in first.context["items"]]
    assert len(ids) == 50 and ids[0] == str(made[-1].pk)  # overdue first, on page 1
    html = first.content.decode()
    assert "120 open tasks" in html and "1 overdue" in html  # counts of every page
    assert "Page 1 of 3 · tasks 1\N{EN DASH}50 of 120" in html
    assert 'href="?page=2" rel="next"' in html and 'rel="prev"' not in html
    assert "Select all on this page" in html
    second = client.get("/?page=2")
    ids += [item["request_id"] for item in second.context["items"]]
    last = client.get("/?page=3")
    ids += [item["request_id"] for item in last.context["items"]]
    assert len(ids) == len(set(ids)) == 120  # every task once, in one order
    assert ids == [str(t.request_id) for t in selectors.inbox_for(manager)]
    assert 'rel="next"' not in last.content.decode()
    assert client.get("/?page=99").context["page"].number == 3  # past the end: the last
    assert client.get("/?page=abc").context["page"].number == 1
    filtered = client.get("/?workflow=purchase_order&page=2").content.decode()
    assert 'href="?workflow=purchase_order&amp;page=1" rel="prev"' in filtered
    assert 'href="?workflow=purchase_order&amp;page=3" rel="next"' in filtered


@pytest.mark.parametrize("workflow", ["", "purchase_order", "every_type"])
@pytest.mark.parametrize("due", ["", "soon", "overdue"])
def test_the_counts_are_those_of_the_tasks_listed(make_po, every_type, requester, as_user,
                                                  manager, workflow, due):
    """The totals come from one grouped count, not from the list: they must agree."""
    now = timezone.now()
    for i, due_at in enumerate([None, now - timedelta(hours=1), now + timedelta(hours=3),
                                now + timedelta(days=3), now - timedelta(days=2)]):
        for req in (
            make_po(vendor=f"V{i}"),
            services.submit(workflow_key="every_type", requester=requester,
                            inputs={"amount": "10", "kind": "a"}),
        ):
            Task.objects.filter(request=req).update(due_at=due_at)
    page = as_user(manager).get("/", {"workflow": workflow, "due": due})
    items = page.context["items"]
    assert page.context["page"].paginator.count == len(items) > 0
    assert page.context["overdue_count"] == sum(1 for i in items if i["overdue"])
    expected = {"": 5, "soon": 3, "overdue": 2}[due] * (1 if workflow else 2)
    assert len(items) == expected


def test_due_and_assigned_say_what_the_timesince_filters_say(make_po, as_user, manager):
    """The view writes these words itself (translated once per page); they must stay
    those of Django's timesince/timeuntil filters the template used."""
    now = timezone.now()
    margin = timedelta(seconds=30)  # away from a minute's edge while the page renders
    spans = [timedelta(minutes=3), timedelta(hours=5, minutes=1), timedelta(days=1),
             timedelta(days=9, hours=2), timedelta(days=75), timedelta(days=400)]
    for i, span in enumerate(spans):
        due_at = now + span + margin if i % 2 else now - span - margin
        Task.objects.filter(request=make_po(vendor=f"S{i}")).update(
            created_at=now - span - margin, due_at=due_at
        )
    items = as_user(manager).get("/").context["items"]
    assert len(items) == len(spans)
    for item in items:
        task = Task.objects.get(pk=item["id"])
        assert item["assigned"] == timesince_filter(task.created_at)
        if item["overdue"]:
            assert item["due"] == timesince_filter(task.due_at)
        else:
            assert item["due"] == timeuntil_filter(task.due_at)
    assert {i["assigned"] for i in items} >= {"3\xa0minutes", "5\xa0hours, 1\xa0minute",
                                              "1\xa0year, 1\xa0month"}


def test_a_single_page_has_no_pager(make_po, as_user, manager):
    make_po()
    html = as_user(manager).get("/").content.decode()
    assert 'class="pager"' not in html
    assert "Select all</label>" in html


def test_the_workflow_filter_lists_only_the_workflows_of_my_open_tasks(
    make_po, every_type, as_user, manager
):
    make_po()
    html = as_user(manager).get("/").content.decode()
    assert '<option value="purchase_order">Purchase order</option>' in html
    assert "every_type" not in html  # a workflow I have nothing to decide in
    chosen = as_user(manager).get("/?workflow=purchase_order").content.decode()
    assert '<option value="purchase_order" selected>Purchase order</option>' in chosen


def test_deciding_from_a_page_comes_back_to_it(make_po, as_user, manager):
    req = make_po(amount="100.00")
    client = as_user(manager)
    html = client.get("/?workflow=purchase_order").content.decode()
    assert '<input type="hidden" name="next" value="/?workflow=purchase_order">' in html
    response = client.post(
        f"/tasks/{open_task(req).pk}/decide/",
        {"decision": "approve", "next": "/?workflow=purchase_order"},
    )
    assert response["Location"] == "/?workflow=purchase_order"


def test_names_read_from_columns_are_the_display_names(make_po, as_user, manager, grandboss):
    """The page reads names with values(); they must be what Person.display_name says."""
    people = [
        PersonFactory(username="named", name="Nora Named", first_name="X", last_name="Y"),
        PersonFactory(username="parts", name="", first_name="Pat", last_name="Parts"),
        PersonFactory(username="bare", name="", first_name="", last_name=""),
    ]
    for person in people:
        person.manager = manager
        person.save()
        make_po(who=person, vendor=person.username)
    items = as_user(manager).get("/").context["items"]
    assert sorted(i["requester"] for i in items) == sorted(p.display_name for p in people)
    assert sorted(i["requester"] for i in items) == ["Nora Named", "Pat Parts", "bare"]


def test_each_row_form_carries_the_csrf_token(make_po, manager):
    """The token is written once per page and repeated in every row's form: a browser
    posting a row's form as it is passes the CSRF check."""
    req = make_po(amount="100.00")
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    html = client.get("/").content.decode()
    form = html[html.index('<form class="task__decide'):]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    assert client.post(f"/tasks/{open_task(req).pk}/decide/",
                       {"decision": "approve"}).status_code == 403  # without it: refused
    response = client.post(f"/tasks/{open_task(req).pk}/decide/",
                           {"decision": "approve", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.state == "approved"


def test_recipes_are_read_once_and_new_versions_are_seen(make_po, as_user, manager,
                                                        grandboss, monkeypatch):
    monkeypatch.setattr(inbox_view, "_RECIPES", {})
    make_po(amount="1200.00", vendor="Acme")
    client = as_user(manager)

    def sources_read() -> int:
        with CaptureQueriesContext(connection) as ctx:
            html = client.get("/").content.decode()
        assert "Amount 1,200.00 · Vendor Acme" in html
        # Versions read on their own (the page's rows join the version for its hash only):
        # one query for the recipe's text and document, none for a field left behind.
        return sum('FROM "approvals_workflowversion"' in q["sql"] for q in ctx.captured_queries)

    assert sources_read() == 1  # the first page of this process parses the recipe
    assert sources_read() == 0  # then it is cached
    services.publish(source=PURCHASE_ORDER.replace("vendor: {", "vendor: {label: Supplier, "),
                     author=grandboss)
    make_po(amount="5.00", vendor="Newco")
    with CaptureQueriesContext(connection) as ctx:
        html = client.get("/").content.decode()
    assert "Amount 5.00 · Supplier Newco" in html  # the new version's labels
    assert "Amount 1,200.00 · Vendor Acme" in html  # the old request keeps its own
    assert sum('FROM "approvals_workflowversion"' in q["sql"] for q in ctx.captured_queries) == 1


def test_approve_inline_moves_the_request_on(make_po, as_user, manager):
    req = make_po(amount="100.00")
    task = open_task(req)
    response = as_user(manager).post(
        f"/tasks/{task.pk}/decide/", {"decision": "approve", "comment": ""}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    req.refresh_from_db()
    assert req.state == "approved"
    assert any("approved" in m for m in messages_of(response))


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_reject_and_request_changes_need_a_comment(make_po, as_user, manager, decision):
    req = make_po()
    task = open_task(req)
    response = as_user(manager).post(
        f"/tasks/{task.pk}/decide/", {"decision": decision, "comment": "  "}, follow=True
    )
    assert any("comment" in m for m in messages_of(response))
    task.refresh_from_db()
    req.refresh_from_db()
    assert task.state == "open" and req.state == "pending"


def test_request_changes_with_a_comment_sends_it_back(make_po, as_user, manager):
    req = make_po()
    as_user(manager).post(
        f"/tasks/{open_task(req).pk}/decide/",
        {"decision": "request_changes", "comment": "Which laptop model?"},
    )
    req.refresh_from_db()
    assert req.state == "changes_requested"


def test_deciding_a_task_that_is_not_mine_changes_nothing(make_po, as_user, outsider):
    req = make_po()
    task = open_task(req)
    response = as_user(outsider).post(
        f"/tasks/{task.pk}/decide/", {"decision": "approve"}, follow=True
    )
    assert response.status_code == 200
    assert messages_of(response)  # the engine's refusal, shown on the page
    task.refresh_from_db()
    assert task.state == "open"
    assert not task.decisions.exists()


def test_deciding_a_closed_task_says_so(make_po, as_user, manager):
    req = make_po(amount="100.00")
    task = open_task(req)
    client = as_user(manager)
    client.post(f"/tasks/{task.pk}/decide/", {"decision": "approve"})
    response = client.post(
        f"/tasks/{task.pk}/decide/", {"decision": "reject", "comment": "changed my mind"},
        follow=True,
    )
    assert messages_of(response)
    req.refresh_from_db()
    assert req.state == "approved"
    assert task.decisions.count() == 1


def test_a_made_up_decision_or_task_is_refused(make_po, as_user, manager):
    req = make_po()
    client = as_user(manager)
    response = client.post(f"/tasks/{open_task(req).pk}/decide/", {"decision": "yolo"},
                           follow=True)
    assert messages_of(response)
    response = client.post("/tasks/999999/decide/", {"decision": "approve"}, follow=True)
    assert response.status_code == 200 and messages_of(response)
    assert open_task(req).state == "open"


def test_decide_only_redirects_back_into_the_site(make_po, as_user, manager):
    req = make_po()
    response = as_user(manager).post(
        f"/tasks/{open_task(req).pk}/decide/",
        {"decision": "approve", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_bulk_approve_gives_a_result_per_task(make_po, as_user, manager, outsider):
    mine = [make_po(amount="100.00", vendor=f"V{i}") for i in range(3)]
    theirs = make_po(who=manager)  # a task for grandboss, not for the manager
    tasks = [open_task(r).pk for r in mine] + [open_task(theirs).pk]
    response = as_user(manager).post(
        "/tasks/bulk-decide/", {"tasks": tasks, "decision": "approve"}, follow=True
    )
    texts = messages_of(response)
    for pk in tasks[:3]:
        assert any(t.startswith(f"Task {pk} ") and "approved" in t for t in texts)
    assert any(t.startswith(f"Task {tasks[3]}: not approved") for t in texts)
    assert any("3 of 4 approved" in t for t in texts)
    for r in mine:
        r.refresh_from_db()
        assert r.state == "approved"
    assert open_task(theirs).state == "open"


def test_bulk_approve_with_nothing_ticked_says_so(as_user, manager):
    response = as_user(manager).post("/tasks/bulk-decide/", {"decision": "approve"}, follow=True)
    assert any("Tick at least one" in m for m in messages_of(response))


def test_bulk_cannot_reject(make_po, as_user, manager):
    req = make_po()
    response = as_user(manager).post(
        "/tasks/bulk-decide/", {"tasks": [open_task(req).pk], "decision": "reject"}, follow=True
    )
    assert messages_of(response)
    assert open_task(req).state == "open"


# The template loop the inbox rows were written with before the view wrote them
# (approvals/views/inbox.py, _row): the rows must stay this markup, byte for byte.
_TEMPLATE_ROWS = """{% for t in items %}
  <li class="task{% if t.overdue %} task--overdue{% elif t.due_soon %} task--soon{% endif %}" id="task-{{ t.id }}" data-task="{{ t.id }}">
    <div class="task__select">
      <input type="checkbox" name="tasks" value="{{ t.id }}" form="bulk-form" class="bulk-task" id="select-{{ t.id }}">
      <label for="select-{{ t.id }}" class="visually-hidden">Select request #{{ t.request_id }}</label>
    </div>
    <div class="task__body">
      <div class="task__title">
        <a href="{{ t.request_url }}">#{{ t.request_id }} {{ t.title }}</a>
        <span class="tag">{{ t.workflow }}</span>
        {% if t.overdue %}<span class="pill pill--bad">Overdue</span>{% elif t.due_soon %}<span class="pill pill--warn">Due soon</span>{% endif %}
      </div>
      <div class="task__meta">
        From <strong>{{ t.requester }}</strong> · step <code>{{ t.step }}</code>
        {% if t.due %} · {% if t.overdue %}<span class="text-bad">overdue by {{ t.due }}</span>{% else %}due in {{ t.due }}{% endif %}{% endif %}
        · assigned {{ t.assigned }} ago
      </div>
      {% if t.summary %}<div class="task__summary">{{ t.summary }}</div>{% endif %}
      {% if t.on_behalf_of %}
      <div class="task__behalf">On behalf of {{ t.on_behalf_of }}{% if t.via %}, via {{ t.via }}{% endif %}</div>
      {% endif %}
    </div>
    <form class="task__decide decide-form" method="post" action="{{ t.decide_url }}">
      <input type="hidden" name="csrfmiddlewaretoken" value="{{ csrf_token }}">
      <input type="hidden" name="next" value="{{ back }}">
      <label for="comment-{{ t.id }}" class="visually-hidden">Comment on request #{{ t.request_id }}</label>
      <textarea name="comment" id="comment-{{ t.id }}" rows="2" placeholder="Comment (required to reject or ask for changes)"></textarea>
      <p class="field-error" data-comment-error hidden>Add a comment to say why.</p>
      <div class="btn-row">
        <button type="submit" name="decision" value="approve" class="btn btn--approve btn--small">Approve</button>
        <button type="submit" name="decision" value="reject" class="btn btn--reject btn--small" data-needs-comment>Reject</button>
        <button type="submit" name="decision" value="request_changes" class="btn btn--small" data-needs-comment>Request changes</button>
      </div>
    </form>
  </li>
  {% endfor %}"""  # noqa: E501


def test_the_rows_are_the_markup_of_the_template_loop_and_escape_every_value():
    nasty = "<script>alert('x')</script> & \"quotes\""
    base = {
        "id": "7", "request_id": "3", "request_url": "/requests/3/",
        "decide_url": "/tasks/7/decide/", "title": "Laptop", "workflow": "Purchase order",
        "requester": "Alice Requester", "step": "manager", "overdue": False,
        "due_soon": False, "due": "2\xa0days", "assigned": "5\xa0hours", "summary": "",
        "on_behalf_of": "", "via": "",
    }
    items = [
        base,
        {**base, "overdue": True, "due_soon": True, "due": "1\xa0hour"},
        {**base, "due_soon": True, "summary": "Amount 1,200.00 · Vendor Acme"},
        {**base, "due": "", "on_behalf_of": "Bob Manager"},
        {**base, "on_behalf_of": "Bob Manager", "via": "Carol Delegate, Hank Helper"},
        {key: nasty if isinstance(value, str) else value for key, value in base.items()}
        | {"on_behalf_of": nasty, "via": nasty, "overdue": True},
    ]
    csrf_token, back = "tok<en>", "/?workflow=a&due=soon&x=\"'"
    expected = engines["django"].from_string(_TEMPLATE_ROWS).render(
        {"items": items, "csrf_token": csrf_token, "back": back}
    )
    rows = inbox_view._rows_html(items, csrf_token=csrf_token, back=back)
    assert rows == expected
    assert "<script>" not in rows and "&lt;script&gt;alert(&#x27;x&#x27;)" in rows
    assert inbox_view._rows_html([], csrf_token=csrf_token, back=back) == ""


def test_the_page_around_the_rows_is_unchanged(make_po, as_user, manager, grandboss):
    _delegated_via_helper(make_po(vendor="Delegated <b>"), manager, grandboss)
    make_po(vendor="Plain")
    response = as_user(manager).get("/")
    html = response.content.decode()
    rows = engines["django"].from_string(_TEMPLATE_ROWS).render(
        {"items": response.context["items"], "csrf_token": response.context["csrf_token"],
         "back": "/"}
    )
    assert f'<ul class="task-list">\n  {rows}\n</ul>' in html
    assert "Delegated &lt;b&gt; order" in html and "via Hank Helper" in html


@pytest.mark.parametrize("query", ["", "?due=soon", "?due=overdue", "?due=", "?due=bogus",
                                   "?page=2", "?workflow=nope&due=soon"])
def test_the_due_filter_is_the_markup_of_its_widget(make_po, as_user, manager, query):
    make_po()
    response = as_user(manager).get("/" + query)
    widget = str(response.context["filters"]["due"])  # the form's own Select widget
    assert widget.startswith('<select name="due"')
    html = response.content.decode()
    assert f'<label for="id_due">Due</label>\n    {widget}\n  </div>' in html


def test_the_prepared_reads_are_the_selectors_querysets(make_po, every_type, requester, manager):
    """The page's two reads are compiled once per process (config/prepared.py): they
    must give what inbox_for filtered the same way, and the grouped counts, give."""
    from django.db.models import Count, Q

    now = timezone.now()
    for i in range(60):
        req = (make_po(vendor=f"V{i}") if i % 3 else services.submit(
            workflow_key="every_type", requester=requester, inputs={"amount": "1", "kind": "a"}))
        Task.objects.filter(request=req).update(
            due_at=None if i % 7 == 0 else now + timedelta(hours=i - 20))
    for workflow in ("", "purchase_order", "every_type", "nothing"):
        for due_before in (None, now, now + inbox_view.DUE_SOON):
            tasks = selectors.inbox_for(manager)
            if workflow:
                tasks = tasks.filter(request__workflow__key=workflow)
            if due_before:
                tasks = tasks.filter(due_at__lt=due_before)
            rows = inbox_view._PageRows(manager, workflow, due_before)
            for start, stop in ((0, 0), (0, 50), (50, 60), (40, 45)):
                expected = list(tasks.values(*inbox_view._COLUMNS)[start:stop])
                assert rows[start:stop] == expected, (workflow, due_before, start, stop)
    soon = now + inbox_view.DUE_SOON
    grouped = (
        Task.objects.filter(assignee=manager, state="open")
        .values("request__workflow__key", "request__workflow__title")
        .annotate(open=Count("pk"), due_soon=Count("pk", filter=Q(due_at__lt=soon)),
                  overdue=Count("pk", filter=Q(due_at__lt=now)))
        .order_by("request__workflow__title", "request__workflow__key")
    )
    assert [
        (w.key, w.title, w.open, w.due_soon, w.overdue)
        for w in selectors.inbox_workflows(manager, now=now, soon=soon)
    ] == [tuple(g.values()) for g in grouped]


def test_the_workflow_options_are_the_markup_of_the_template_loop():
    loop = (  # the template's loop before the view wrote the options
        '{% for key, title in workflow_options %}<option value="{{ key }}"{% if key == '
        "workflow_selected %} selected{% endif %}>{{ title }}</option>\n      {% endfor %}"
    )
    choices = [("", "All workflows"), ("po", "Purchase order"),
               ('x"><script>', "<b>Bold & 'quoted'</b>")]
    for selected in ("", "po", 'x"><script>', "none"):
        expected = engines["django"].from_string(loop).render(
            {"workflow_options": choices, "workflow_selected": selected}
        )
        assert inbox_view._options_html(choices, selected=selected) == expected


@pytest.mark.parametrize("data", [None, {}, {"workflow": "po"}, {"workflow": 'x"><script>'},
                                  {"workflow": "nope", "due": "soon"}, {"due": "bogus"}])
def test_the_filter_form_is_the_form_with_its_choices_as_django_normalizes_them(data):
    """InboxFilterForm hands its workflow choices over as PlainChoices (no normalizing
    again): the same validation, errors, choices and widget markup as a plain list."""
    from django import forms

    from approvals.forms import InboxFilterForm, PlainChoices

    workflows = [("po", "Purchase order"), ('x"><script>', "<b>Bold & 'quoted'</b>")]

    class Reference(forms.Form):
        workflow = forms.ChoiceField(required=False, choices=())
        due = InboxFilterForm.base_fields["due"]

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["workflow"].choices = [("", "All workflows"), *workflows]

    ours, reference = InboxFilterForm(data, workflows=workflows), Reference(data)
    assert ours.is_valid() == reference.is_valid()
    assert ours.errors == reference.errors
    assert getattr(ours, "cleaned_data", None) == getattr(reference, "cleaned_data", None)
    assert list(ours.fields["workflow"].choices) == list(reference.fields["workflow"].choices)
    assert ours.fields["workflow"].choices == reference.fields["workflow"].choices
    assert str(ours["workflow"]) == str(reference["workflow"])
    assert str(ours["due"]) == str(reference["due"])
    with pytest.raises(TypeError):
        PlainChoices([("group", [("a", "A")])])
