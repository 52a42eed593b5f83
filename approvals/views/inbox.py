"""The inbox: my open tasks, decided inline or in bulk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from html import escape
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from approvals import selectors, services
from approvals.choices import DecisionKind, Via
from approvals.errors import ApprovalError
from approvals.forms import BulkDecisionForm, DecisionForm, InboxFilterForm
from approvals.models import Task, WorkflowVersion
from approvals.notifications.links import reversed_once, url_for_id
from approvals.recipes import Recipe
from approvals.selectors import InboxWorkflow
from config.prepared import Prepared
from orgchart.models import Person

from .common import names_for, recipe_of, safe_next, summary
from .elapsed import Elapsed

DUE_SOON = timedelta(hours=24)
PAGE_SIZE = 50

# What one inbox row shows, as values() columns (no recipe source, no resolution).
_COLUMNS = (
    "pk", "step_id", "due_at", "created_at", "delegation_chain",
    "request_id", "request__title", "request__inputs", "request__workflow__title",
    "request__workflow_version_id", "request__workflow_version__content_hash",
    *(f"request__requester__{c}" for c in ("username", "name", "first_name", "last_name")),
    *(f"on_behalf_of__{c}" for c in ("username", "name", "first_name", "last_name")),
)

_DONE_WORDS = {
    DecisionKind.APPROVE: "approved",
    DecisionKind.REJECT: "rejected",
    DecisionKind.REQUEST_CHANGES: "sent back for changes",
}


def _form_errors(form: DecisionForm | BulkDecisionForm) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Open tasks, oldest due first, 50 a page: the same few queries whatever their number.

    Rows are read with ``values()`` and given to the template as ready strings: model
    instances, a reverse() per link and template filters per row made the page cost
    about a millisecond per task.
    """
    person = request.user
    now = timezone.now()
    workflows = selectors.inbox_workflows(person, now=now, soon=now + DUE_SOON)
    filters = InboxFilterForm(request.GET or None, workflows=[(w.key, w.title) for w in workflows])
    chosen = filters.cleaned_data if filters.is_valid() else {"workflow": "", "due": ""}
    due_before = {"overdue": now, "soon": now + DUE_SOON}.get(chosen["due"])
    listed, overdue = _totals(workflows, chosen["workflow"], chosen["due"])

    paginator = Paginator(_PageRows(person, chosen["workflow"], due_before), PAGE_SIZE)
    paginator.count = listed  # known from the per-workflow counts: no COUNT query
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    items = _items(list(page.object_list), now)
    # Deciding brings the person back to this page, filters and all.
    back = request.get_full_path()
    csrf_token = get_token(request)  # one token for every form of the page, as before
    return render(
        request,
        "approvals/inbox.html",
        {
            "items": items,
            "rows": _rows_html(items, csrf_token=csrf_token, back=back),
            "csrf_token": csrf_token,
            "page": page,
            "back": back,
            "query": query.urlencode(),
            "filters": filters,
            "workflow_options": _options_html(filters.fields["workflow"].choices,
                                              selected=chosen["workflow"]),
            "due_options": filters.fields["due"].choices,
            # What the Select widget marks selected (the value given, even if not a choice)
            # and marks invalid (tests/pages/test_inbox.py compares with the widget).
            "due_value": _as_option(filters["due"].value()),
            "due_invalid": bool(filters["due"].errors),
            "filtered": any(chosen.values()),
            "overdue_count": overdue,
        },
    )


class _PageRows:
    """The rows the filters select, for the Paginator: a slice of it reads those rows
    with the prepared query ``_PAGE_ROWS`` (``inbox_for`` filtered, as ``values()``)."""

    def __init__(self, person: Any, workflow: str, due_before: datetime | None) -> None:
        self.values: dict[str, Any] = {"person_id": person.pk}
        if workflow:
            self.values["workflow"] = workflow
        if due_before:
            self.values["due_before"] = due_before

    def __getitem__(self, rows: slice) -> list[dict[str, Any]]:
        if rows.stop <= rows.start:  # nothing to read (an empty inbox's page 1)
            return []
        shape = (bool(self.values.get("workflow")), "due_before" in self.values, rows.start)
        return _PAGE_ROWS.rows(shape, **self.values)[: rows.stop - rows.start]


def _page_rows_query(
    shape: tuple[bool, bool, int], *, person_id: int, workflow: str = "",
    due_before: datetime | None = None,
) -> QuerySet[Task]:
    """``inbox_for`` with the page's filters, PAGE_SIZE rows from ``start``."""
    by_workflow, by_due, start = shape
    tasks = selectors.inbox_for(Person(pk=person_id))
    if by_workflow:
        tasks = tasks.filter(request__workflow__key=workflow)
    if by_due:
        tasks = tasks.filter(due_at__lt=due_before)
    return tasks.values(*_COLUMNS)[start : start + PAGE_SIZE]


# Compiled once per process and shape (filters, first row): config/prepared.py.
_PAGE_ROWS = Prepared(_page_rows_query)


def _options_html(choices: list[tuple[str, str]], *, selected: str) -> SafeString:
    """The ``<option>`` elements of a select, as the template's loop wrote them."""
    return mark_safe("".join(  # noqa: S308 - both values escaped
        f'<option value="{escape(key)}"{" selected" if key == selected else ""}>'
        f"{escape(title)}</option>\n      "
        for key, title in choices
    ))


def _as_option(value: Any) -> str:
    """A form value as ``Select.format_value`` compares it with the options."""
    return "" if value is None else str(value)


def _totals(workflows: list[InboxWorkflow], key: str, due: str) -> tuple[int, int]:
    """(tasks the filters list, overdue ones among them), from the per-workflow counts:
    the same conditions as the filters in ``inbox``."""
    shown = [w for w in workflows if not key or w.key == key]
    if due == "overdue":
        listed = sum(w.overdue for w in shown)
    elif due == "soon":
        listed = sum(w.due_soon for w in shown)
    else:
        listed = sum(w.open for w in shown)
    return listed, sum(w.overdue for w in shown)


def _items(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The template's rows: every text and link computed here, once per row."""
    recipes = _recipes({
        (r["request__workflow_version_id"], r["request__workflow_version__content_hash"])
        for r in rows
    })
    via_names = names_for(u for r in rows for u in (r["delegation_chain"] or [])[1:-1])
    request_url, decide_url = _row_links()
    elapsed = Elapsed(now)
    items = []
    for row in rows:
        due_at = row["due_at"]
        overdue = bool(due_at and due_at < now)
        chain = row["delegation_chain"] or []
        items.append(
            {
                "id": str(row["pk"]),
                "request_id": str(row["request_id"]),
                "request_url": request_url(row["request_id"]),
                "decide_url": decide_url(row["pk"]),
                "title": row["request__title"] or row["request__workflow__title"],
                "workflow": row["request__workflow__title"],
                "requester": _display_name(row, "request__requester__"),
                "step": row["step_id"],
                "overdue": overdue,
                "due_soon": bool(due_at and now <= due_at < now + DUE_SOON),
                # The words of Django's timesince/timeuntil filters, with one "now" per page.
                "due": (elapsed.since(due_at) if overdue else elapsed.until(due_at))
                if due_at else "",
                "assigned": elapsed.since(row["created_at"]),
                "summary": summary(
                    recipes[row["request__workflow_version_id"]], row["request__inputs"]
                ),
                "on_behalf_of": _display_name(row, "on_behalf_of__")
                if row["on_behalf_of__username"] else "",
                "via": ", ".join(via_names.get(u, u) for u in chain[1:-1]),
            }
        )
    return items


# One inbox row, the markup the template's loop wrote, byte for byte. Written here
# because Django's template engine resolved its ~25 variables and conditions one lookup
# at a time: 50 rows cost ~5 ms of CPU in the loop, ~1 ms with str.format of this markup
# (parsed again for every row), ~0.3 ms as an f-string. Every value is escaped with
# html.escape, which is what django.utils.html.escape (autoescaping) calls;
# tests/pages/test_inbox.py renders the old loop beside this and compares.
def _row(
    *, task_id: str, request_id: str, request_url: str, decide_url: str, title: str,
    workflow: str, requester: str, step: str, assigned: str, state_class: str, pill: str,
    due: str, summary: str, behalf: str, csrf_token: str, back: str,
) -> str:
    """One list item; every argument is markup (escaped text or tags written here)."""
    return f"""
  <li class="task{state_class}" id="task-{task_id}" data-task="{task_id}">
    <div class="task__select">
      <input type="checkbox" name="tasks" value="{task_id}" form="bulk-form" class="bulk-task" id="select-{task_id}">
      <label for="select-{task_id}" class="visually-hidden">Select request #{request_id}</label>
    </div>
    <div class="task__body">
      <div class="task__title">
        <a href="{request_url}">#{request_id} {title}</a>
        <span class="tag">{workflow}</span>
        {pill}
      </div>
      <div class="task__meta">
        From <strong>{requester}</strong> · step <code>{step}</code>
        {due}
        · assigned {assigned} ago
      </div>
      {summary}
      {behalf}
    </div>
    <form class="task__decide decide-form" method="post" action="{decide_url}">
      <input type="hidden" name="csrfmiddlewaretoken" value="{csrf_token}">
      <input type="hidden" name="next" value="{back}">
      <label for="comment-{task_id}" class="visually-hidden">Comment on request #{request_id}</label>
      <textarea name="comment" id="comment-{task_id}" rows="2" placeholder="Comment (required to reject or ask for changes)"></textarea>
      <p class="field-error" data-comment-error hidden>Add a comment to say why.</p>
      <div class="btn-row">
        <button type="submit" name="decision" value="approve" class="btn btn--approve btn--small">Approve</button>
        <button type="submit" name="decision" value="reject" class="btn btn--reject btn--small" data-needs-comment>Reject</button>
        <button type="submit" name="decision" value="request_changes" class="btn btn--small" data-needs-comment>Request changes</button>
      </div>
    </form>
  </li>
  """  # noqa: E501, S608 - HTML with the word "select", not SQL


def _rows_html(items: list[dict[str, Any]], *, csrf_token: str, back: str) -> SafeString:
    """The page's list items for the rows of ``_items`` (see ``_row``)."""
    csrf_token, back = escape(csrf_token), escape(back)
    html = []
    for t in items:
        overdue, soon = t["overdue"], t["due_soon"] and not t["overdue"]
        due = ""
        if t["due"]:
            due = (' · <span class="text-bad">overdue by {}</span>' if overdue
                   else " · due in {}").format(escape(t["due"]))
        behalf = ""
        if t["on_behalf_of"]:
            via = ", via " + escape(t["via"]) if t["via"] else ""
            behalf = (f'\n      <div class="task__behalf">On behalf of {escape(t["on_behalf_of"])}'
                      f"{via}</div>\n      ")
        html.append(_row(
            task_id=escape(t["id"]),
            request_id=escape(t["request_id"]),
            request_url=escape(t["request_url"]),
            decide_url=escape(t["decide_url"]),
            title=escape(t["title"]),
            workflow=escape(t["workflow"]),
            requester=escape(t["requester"]),
            step=escape(t["step"]),
            assigned=escape(t["assigned"]),
            state_class=" task--overdue" if overdue else " task--soon" if soon else "",
            pill='<span class="pill pill--bad">Overdue</span>' if overdue
            else '<span class="pill pill--warn">Due soon</span>' if soon else "",
            due=due,
            summary=f'<div class="task__summary">{escape(t["summary"])}</div>'
            if t["summary"] else "",
            behalf=behalf,
            csrf_token=csrf_token,
            back=back,
        ))
    return mark_safe("".join(html))  # noqa: S308 - every value above was escaped


def _row_links() -> tuple[Callable[[int], str], ...]:
    """A row's two links from its ids, reversed once (``reversed_once``): two reverse()
    a page cost ~60 µs."""
    return reversed_once(
        "inbox rows", lambda: (url_for_id("approvals:request"), url_for_id("approvals:decide"))
    )


def _display_name(row: dict[str, Any], prefix: str) -> str:
    """``Person.display_name`` from a values() row's columns: name, else full name, else
    username."""
    full = f"{row[prefix + 'first_name']} {row[prefix + 'last_name']}".strip()
    return row[prefix + "name"] or full or row[prefix + "username"]


# Parsed recipes by (version id, content hash). Versions never change, so each recipe is
# parsed once per process and the page reads a version's source only the first time.
# Bounded like the parser's own cache (approvals/recipes/cache.py): a few KB a recipe.
_RECIPES: dict[tuple[int, str], Recipe | None] = {}
_RECIPES_MAX = 2048


def _recipes(versions: set[tuple[int, str]]) -> dict[int, Recipe | None]:
    """The recipe of each (version id, content hash): no query once they are cached,
    one query for all the versions that are not."""
    recipes = {pk: _RECIPES.get((pk, digest)) for pk, digest in versions}
    missing = [pk for pk, digest in versions if (pk, digest) not in _RECIPES]
    if missing:
        if len(_RECIPES) >= _RECIPES_MAX:
            _RECIPES.clear()
        for version in WorkflowVersion.objects.filter(pk__in=missing).only(
            "source", "document", "content_hash"
        ):
            recipes[version.pk] = _RECIPES[(version.pk, version.content_hash)] = recipe_of(
                version
            )
    return recipes


@login_required
@require_POST
def decide(request: HttpRequest, task_id: int) -> HttpResponse:
    """One decision from the inbox or the request page."""
    back = safe_next(request, reverse("approvals:inbox"))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect(back)
    decision = form.cleaned_data["decision"]
    try:
        task = services.decide(
            task_id=task_id,
            actor=request.user,
            decision=decision,
            comment=form.cleaned_data["comment"],
            via=Via.WEB,
        )
    except ApprovalError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(
        request, f"Request #{task.request_id}: you {_DONE_WORDS.get(decision, decision)} it."
    )
    return redirect(back)


@login_required
@require_POST
def bulk_decide(request: HttpRequest) -> HttpResponse:
    """Approve several tasks; each gets its own result and one failing never stops the rest."""
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Tick at least one task to approve. " + _form_errors(form))
        return redirect(reverse("approvals:inbox"))
    ok = 0
    for task_id in form.cleaned_data["tasks"]:
        try:
            task = services.decide(
                task_id=task_id,
                actor=request.user,
                decision=form.cleaned_data["decision"],
                comment=form.cleaned_data["comment"],
                via=Via.WEB,
            )
        except ApprovalError as exc:
            messages.error(request, f"Task {task_id}: not approved. {exc.message}", "bulk")
        else:
            ok += 1
            messages.success(request, f"Task {task_id} (request #{task.request_id}): approved.",
                             "bulk")
    messages.info(request, f"Bulk approve: {ok} of {len(form.cleaned_data['tasks'])} approved.")
    return redirect(reverse("approvals:inbox"))
