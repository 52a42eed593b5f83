"""Submitting a request: pick a workflow, fill the form generated from its inputs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from approvals import selectors, services
from approvals.choices import Via
from approvals.errors import ApprovalError, InvalidInput
from approvals.forms import SubmitMetaForm, has_person_picker, inputs_form_class

from .common import recipe_of


def people_for_picker() -> list[tuple[str, str]]:
    """Active people for the person picker's datalist (username, name)."""
    from orgchart.models import Person

    return [
        (p.username, p.display_name)
        for p in Person.objects.filter(is_active=True, is_service_account=False).only(
            "username", "name", "first_name", "last_name"
        )
    ]


@login_required
def choose(request: HttpRequest) -> HttpResponse:
    """The workflows this person may submit."""
    workflows = selectors.workflows_available_to(request.user).order_by("title")
    return render(request, "approvals/submit_choose.html", {"workflows": workflows})


@login_required
def submit(request: HttpRequest, key: str) -> HttpResponse:
    """The generated form; errors go back onto their fields; success shows the request."""
    workflow = (
        selectors.workflows_available_to(request.user)
        .select_related("latest_version")
        .filter(key=key)
        .first()
    )
    recipe = recipe_of(workflow.latest_version) if workflow and workflow.latest_version else None
    if workflow is None or recipe is None:
        messages.error(request, f"There is no workflow “{key}” that you may submit.")
        response = render(request, "approvals/submit_choose.html", {
            "workflows": selectors.workflows_available_to(request.user).order_by("title"),
        })
        response.status_code = 404
        return response

    form_class = inputs_form_class(recipe)
    if request.method == "POST":
        form = form_class(request.POST, prefix="in")
        meta = SubmitMetaForm(request.POST)
        if form.is_valid() and meta.is_valid():
            try:
                created = services.submit(
                    workflow_key=key,
                    requester=request.user,
                    inputs=form.to_inputs(),
                    title=meta.cleaned_data["title"],
                    via=Via.WEB,
                )
            except InvalidInput as exc:
                form.attach_faults(exc.faults)
                if not exc.faults:
                    form.add_error(None, exc.message)
            except ApprovalError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Request #{created.pk} submitted.")
                return redirect("approvals:request", request_id=created.pk)
        status = 400
    else:
        form = form_class(prefix="in")
        meta = SubmitMetaForm()
        status = 200
    return render(
        request,
        "approvals/submit_form.html",
        {
            "workflow": workflow,
            "recipe": recipe,
            "form": form,
            "meta": meta,
            "people": people_for_picker() if has_person_picker(form) else [],
        },
        status=status,
    )
