"""One-click action links (GET shows a confirmation page, only POST decides) and
Slack's interactivity endpoint. Both decide through ``services.decide``."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from approvals import services
from approvals.choices import Via
from approvals.errors import ApprovalError
from approvals.models import Task
from orgchart.models import Person

from . import slack_in
from .links import LinkError, read_action_token, request_url
from .models import UsedToken
from .render import LABELS, LABELS_PAST

TEMPLATE = "notifications/action.html"


def _page(request: HttpRequest, status: int = 200, **context: Any) -> HttpResponse:
    return render(request, TEMPLATE, context, status=status)


@require_http_methods(["GET", "POST"])
def action(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what the link would do, and a button (a link preview never decides).
    POST: decide, once; the token's nonce is spent in the same transaction."""
    try:
        claim = read_action_token(token)
    except LinkError as exc:
        return _page(request, status=exc.status, error=str(exc))
    if UsedToken.objects.filter(nonce=claim.nonce).exists():
        return _page(request, status=410, error="This link was already used.")
    person = Person.objects.filter(pk=claim.person_id, is_active=True).first()
    if person is None:
        return _page(request, status=400, error="This link is not valid.")
    if claim.login_required:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.user.pk != person.pk:
            return _page(request, status=403, error=f"This link is for {person.display_name}.")
    task = (
        Task.objects.select_related("request__workflow", "request__requester", "on_behalf_of")
        .filter(pk=claim.task_id)
        .first()
    )
    if task is None:
        return _page(request, status=404, error="This task no longer exists.")
    context: dict[str, Any] = {
        "task": task,
        "req": task.request,
        "person": person,
        "decision": claim.decision,
        "label": LABELS[claim.decision],
        "needs_comment": claim.decision != "approve",
        "request_link": request_url(task.request_id),
    }
    if not task.is_open or task.assignee_id != person.pk:
        return _page(
            request,
            status=409,
            error=(
                f"This task is no longer waiting for your decision (it is "
                f"{task.get_state_display().lower()}). Nothing was changed."
            ),
            **context,
        )
    if request.method == "GET":
        return _page(request, **context)

    comment = request.POST.get("comment", "").strip()
    if context["needs_comment"] and not comment:
        return _page(request, status=400, form_error="Please say why (a comment is required).",
                     **context)
    try:
        with transaction.atomic():
            UsedToken.objects.create(
                nonce=claim.nonce, purpose="action_link", task_id=task.pk, person=person
            )
            services.decide(
                task_id=task.pk,
                actor=person,
                decision=claim.decision,
                comment=comment,
                via=claim.via if claim.via in Via.values else Via.EMAIL,
            )
    except IntegrityError:
        return _page(request, status=410, error="This link was already used.", **context)
    except ApprovalError as exc:
        return _page(request, status=exc.status, error=f"{exc.message} Nothing was changed.",
                     **context)
    return _page(request, done=f"You {LABELS_PAST[claim.decision]} this request.", **context)


@csrf_exempt  # Slack cannot send a CSRF token; the signing secret authenticates it
@require_POST
def slack_interactions(request: HttpRequest) -> HttpResponse:
    """A button pressed in Slack. Verified (signature and timestamp), refused if
    replayed; Approve decides as the person Slack says pressed it."""
    body = request.body
    signature = request.headers.get("X-Slack-Signature")
    try:
        slack_in.verify(
            body=body,
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=signature,
        )
        press = slack_in.parse(request.POST.get("payload"))
    except slack_in.SlackRefused as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status)
    if press is None:
        return JsonResponse({"ok": True})  # a link button or another event: acknowledged
    person = slack_in.person_for(press.slack_user_id)
    if person is None:
        text = "Your Slack account is not linked to anyone in Approvals; nothing was changed."
        slack_in.respond(press.response_url, text, replace=False)
        return JsonResponse({"ok": False, "text": text})
    try:
        with transaction.atomic():
            # The same signed callback twice (a replay within the 5 minutes) is refused.
            UsedToken.objects.create(
                nonce="slack:" + hashlib.sha256(str(signature).encode()).hexdigest(),
                purpose="slack",
                task_id=press.task_id,
                person=person,
            )
            services.decide(
                task_id=press.task_id, actor=person, decision=press.decision, via=Via.SLACK
            )
    except IntegrityError:
        return JsonResponse({"detail": "this callback was already received", "code": "replayed"},
                            status=409)
    except ApprovalError as exc:
        text = f"{exc.message} Nothing was changed."
        slack_in.respond(press.response_url, text, replace=False)
        return JsonResponse({"ok": False, "text": text, "code": exc.code})
    text = f"✅ {person.display_name} approved this request."
    slack_in.respond(press.response_url, text, replace=True)
    return JsonResponse({"ok": True, "text": text})
