"""Requests: the list I may see (with search) and one request's page."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from approvals import selectors
from approvals.choices import RequestState
from approvals.errors import NotFound
from approvals.filters import RequestFilter
from approvals.forms import (
    AttachmentForm,
    CancelForm,
    CommentForm,
    DecisionForm,
    RequestFilterForm,
)
from approvals.models import Request, Workflow
from audit.models import AuditEvent

from .common import input_rows, names_for, recipe_of, summary
from .timeline import build_timeline, people_in

log = logging.getLogger(__name__)

PAGE_SIZE = 25


def search(requests: QuerySet[Request], text: str) -> QuerySet[Request]:
    """Titles and inputs: PostgreSQL full-text search, ``icontains`` elsewhere."""
    text = text.strip()
    if not text:
        return requests
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # The "simple" configuration: vendor names and codes are not English words.
        vector = SearchVector("title", Cast("inputs", TextField()), config="simple")
        return requests.annotate(_search=vector).filter(
            _search=SearchQuery(text, search_type="websearch", config="simple")
        )
    return requests.annotate(_inputs_text=Cast("inputs", TextField())).filter(
        Q(title__icontains=text) | Q(_inputs_text__icontains=text)
    )


def not_found(request: HttpRequest, message: str = "") -> HttpResponse:
    return render(
        request,
        "approvals/not_found.html",
        {"message": message or "There is no such request, or you may not see it."},
        status=404,
    )


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    """The requests I may see: mine by default, filtered and searched."""
    workflows = list(Workflow.objects.order_by("title").values_list("key", "title"))
    filters = RequestFilterForm(request.GET or None, workflows=workflows)
    requests = selectors.requests_visible_to(request.user).select_related(
        "workflow", "workflow_version", "requester"
    )
    data = filters.cleaned_data if filters.is_valid() else {}
    scope = data.get("scope") or "mine"
    # The API's FilterSet does state, workflow and "mine"; the text search here is
    # PostgreSQL full-text where it runs there.
    shared = RequestFilter(
        {
            "state": data.get("state") or "",
            "workflow": data.get("workflow") or "",
            "mine": "true" if scope == "mine" else "",
        },
        queryset=requests,
        request=request,
    )
    requests = search(shared.qs, data.get("q") or "")
    page = Paginator(requests.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [
        {"req": r, "summary": summary(recipe_of(r.workflow_version), r.inputs)}
        for r in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "approvals/request_list.html",
        {
            "rows": rows,
            "page": page,
            "filters": filters,
            "scope": scope,
            "query": query.urlencode(),
            "searched": bool(filters.is_valid() and filters.cleaned_data["q"]),
        },
    )


def _diagram(recipe: Any, req: Request) -> str | None:
    """The workflow diagram, when the diagram module is installed."""
    try:
        from approvals.diagram import render_svg
    except ImportError:
        return None
    try:
        return mark_safe(render_svg(recipe, request=req))  # noqa: S308 - our own SVG renderer
    except Exception:
        # A drawing must never take the request page down with it.
        log.exception("diagram of request %s failed", req.pk)
        return None


@login_required
@require_GET
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    """Inputs, state and why it waits, timeline, diagram, audit record, actions."""
    try:
        req = selectors.request_for(request.user, request_id)
    except NotFound as exc:
        return not_found(request, exc.message)
    return render(request, "approvals/request_detail.html", detail_context(request, req))


@login_required
@require_GET
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    """A task's link (messages carry it): its request's page, at the task. Someone
    who may not see the request gets the same 404 as for a task that does not exist."""
    request_id = (
        selectors.tasks_visible_to(request.user)
        .filter(pk=task_id)
        .values_list("request_id", flat=True)
        .first()
    )
    if request_id is None:
        return not_found(request, f"No task {task_id}.")
    return redirect(f"{reverse('approvals:request', args=[request_id])}#task-{task_id}")


def detail_context(request: HttpRequest, req: Request, **extra: Any) -> dict[str, Any]:
    """Everything the request page shows; the action views reuse it to show errors in place."""
    user = request.user
    recipe = recipe_of(req.workflow_version)
    tasks = list(req.tasks.select_related("assignee", "on_behalf_of").order_by("created_at", "pk"))
    events = list(AuditEvent.objects.filter(request_id=req.pk).order_by("seq"))
    comments = list(req.comments.select_related("author").order_by("created_at", "pk"))
    attachments = list(req.attachments.select_related("uploaded_by").order_by("created_at"))
    # One lookup for every username the page shows (delegation chains, audit actors).
    via = names_for(
        {u for t in tasks for u in (t.delegation_chain or [])[1:-1]} | people_in(events)
    )
    for task in tasks:
        task.via_names = [via.get(u, u) for u in (task.delegation_chain or [])[1:-1]]
    my_tasks = [t for t in tasks if t.is_open and t.assignee_id == user.pk]
    is_requester = req.requester_id == user.pk
    reason = ""
    if req.is_open:
        try:
            reason = selectors.pending_reason(req)
        except Exception:  # an explanation must not take the page down
            log.exception("pending_reason of request %s failed", req.pk)
    context: dict[str, Any] = {
        "req": req,
        "recipe": recipe,
        "inputs": input_rows(recipe, req.inputs),
        "tasks": tasks,
        "my_tasks": my_tasks,
        "timeline": build_timeline(events, comments, via),
        "events": events,
        "comments": comments,
        "attachments": attachments,
        "pending_reason": reason,
        "diagram": _diagram(recipe, req) if recipe else None,
        "is_requester": is_requester,
        "can_cancel": is_requester and req.is_open,
        # The engine lets the requester and the approvers attach evidence.
        "can_attach": is_requester or any(t.assignee_id == user.pk for t in tasks),
        "can_resubmit": is_requester and req.state == RequestState.CHANGES_REQUESTED,
        "decision_form": DecisionForm(),
        "comment_form": CommentForm(),
        "attachment_form": AttachmentForm(),
        "cancel_form": CancelForm(),
    }
    context.update(extra)
    return context
