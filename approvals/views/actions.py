"""What people do on a request page: cancel, resubmit, comment, attach, download."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from approvals import selectors, services
from approvals.choices import RequestState
from approvals.errors import ApprovalError, InvalidInput, NotFound
from approvals.forms import (
    AttachmentForm,
    CancelForm,
    CommentForm,
    has_person_picker,
    initial_from_inputs,
    inputs_form_class,
)

from .common import recipe_of
from .requests import detail_context, not_found
from .submit import people_for_picker


def _errors(form: CommentForm | CancelForm | AttachmentForm) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@login_required
@require_POST
def cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, _errors(form))
        return redirect("approvals:request", request_id=request_id)
    try:
        services.cancel(
            request_id=request_id, actor=request.user, comment=form.cleaned_data["comment"]
        )
    except NotFound as exc:
        return not_found(request, exc.message)
    except ApprovalError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Request #{request_id} cancelled.")
    return redirect("approvals:request", request_id=request_id)


@login_required
def resubmit(request: HttpRequest, request_id: int) -> HttpResponse:
    """The request's form, prefilled with its inputs, after changes were requested."""
    try:
        req = selectors.request_for(request.user, request_id)
    except NotFound as exc:
        return not_found(request, exc.message)
    recipe = recipe_of(req.workflow_version)
    if req.requester_id != request.user.pk or req.state != RequestState.CHANGES_REQUESTED:
        messages.error(request, "Only the requester may resubmit, and only after changes "
                                "were requested.")
        return redirect("approvals:request", request_id=req.pk)
    if recipe is None:
        messages.error(request, "This request's workflow version cannot be read.")
        return redirect("approvals:request", request_id=req.pk)
    form_class = inputs_form_class(recipe)
    status = 200
    if request.method == "POST":
        form = form_class(request.POST, prefix="in")
        if form.is_valid():
            try:
                services.resubmit(request_id=req.pk, actor=request.user, inputs=form.to_inputs())
            except InvalidInput as exc:
                form.attach_faults(exc.faults)
                if not exc.faults:
                    form.add_error(None, exc.message)
            except ApprovalError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Request #{req.pk} resubmitted.")
                return redirect("approvals:request", request_id=req.pk)
        status = 400
    else:
        form = form_class(prefix="in", initial=initial_from_inputs(recipe, req.inputs))
    return render(
        request,
        "approvals/resubmit.html",
        {
            "req": req,
            "recipe": recipe,
            "form": form,
            "people": people_for_picker() if has_person_picker(form) else [],
        },
        status=status,
    )


@login_required
@require_POST
def comment(request: HttpRequest, request_id: int) -> HttpResponse:
    """A question or an answer on the thread; the request's state does not move."""
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.add_comment(
                request_id=request_id, author=request.user, text=form.cleaned_data["text"]
            )
        except NotFound as exc:
            return not_found(request, exc.message)
        except ApprovalError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Comment added.")
            return redirect(reverse("approvals:request", args=[request_id]) + "#comments")
        return redirect("approvals:request", request_id=request_id)
    # Show the error next to the box, with what was typed.
    try:
        req = selectors.request_for(request.user, request_id)
    except NotFound as exc:
        return not_found(request, exc.message)
    return render(
        request,
        "approvals/request_detail.html",
        detail_context(request, req, comment_form=form),
        status=400,
    )


@login_required
@require_POST
def attach(request: HttpRequest, request_id: int) -> HttpResponse:
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _errors(form) or "Choose a file to attach.")
        return redirect("approvals:request", request_id=request_id)
    try:
        services.add_attachment(
            request_id=request_id, author=request.user, uploaded=form.cleaned_data["file"]
        )
    except NotFound as exc:
        return not_found(request, exc.message)
    except ApprovalError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Attached {form.cleaned_data['file'].name}.")
    return redirect("approvals:request", request_id=request_id)


@login_required
@require_GET
def download(request: HttpRequest, request_id: int, attachment_id: int) -> HttpResponse:
    """Only people who may see the request get its files."""
    try:
        req = selectors.request_for(request.user, request_id)
    except NotFound as exc:
        return not_found(request, exc.message)
    attachment = req.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        return not_found(request, "There is no such file on this request.")
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, OSError):
        return not_found(request, "The file is no longer stored.")
    # Always a download, never rendered inline: an uploaded HTML file must not run here.
    return FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )
