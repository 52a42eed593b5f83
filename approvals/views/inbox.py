"""The inbox: my open tasks, decided inline or in bulk."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from approvals import selectors, services
from approvals.choices import DecisionKind, Via
from approvals.errors import ApprovalError
from approvals.forms import BulkDecisionForm, DecisionForm, InboxFilterForm
from approvals.models import Workflow

from .common import names_for, recipe_of, safe_next, summary

DUE_SOON = timedelta(hours=24)

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
    """Open tasks, oldest due first, in one query whatever their number."""
    workflows = list(Workflow.objects.order_by("title").values_list("key", "title"))
    filters = InboxFilterForm(request.GET or None, workflows=workflows)
    tasks = selectors.inbox_for(request.user).select_related("request__workflow_version")
    now = timezone.now()
    if filters.is_valid():
        if key := filters.cleaned_data["workflow"]:
            tasks = tasks.filter(request__workflow__key=key)
        if filters.cleaned_data["due"] == "overdue":
            tasks = tasks.filter(due_at__lt=now)
        elif filters.cleaned_data["due"] == "soon":
            tasks = tasks.filter(due_at__lt=now + DUE_SOON)
    rows = list(tasks)

    via = names_for(u for t in rows for u in (t.delegation_chain or [])[1:-1])
    items = []
    for task in rows:
        chain = list(task.delegation_chain or [])
        items.append(
            {
                "task": task,
                "req": task.request,
                "summary": summary(recipe_of(task.request.workflow_version), task.request.inputs),
                "overdue": bool(task.due_at and task.due_at < now),
                "due_soon": bool(task.due_at and now <= task.due_at < now + DUE_SOON),
                "via": [via.get(u, u) for u in chain[1:-1]],
            }
        )
    return render(
        request,
        "approvals/inbox.html",
        {
            "items": items,
            "filters": filters,
            "filtered": bool(filters.is_valid() and any(filters.cleaned_data.values())),
            "overdue_count": sum(1 for i in items if i["overdue"]),
        },
    )


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
