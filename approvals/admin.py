"""The Django admin for workflow authors: publish, simulate, diff and draw recipes;
read-only lists of requests, tasks and decisions.

Nothing here changes a state. Publishing goes through ``services.publish``,
simulating through ``planning.simulate`` (which writes nothing); requests,
tasks and decisions are read-only (states move only through the engine).
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from approvals import planning, services
from approvals.diagram import render_svg
from approvals.errors import ApprovalError, InvalidInput
from approvals.models import (
    Attachment,
    Comment,
    Decision,
    Request,
    Task,
    Workflow,
    WorkflowVersion,
)
from approvals.recipes import Fault, RecipeError, recipe_to_dict
from approvals.selectors import is_author
from orgchart.models import Person

STARTER_RECIPE = """\
workflow: my_workflow
title: My workflow
description: What people ask for with it.
inputs:
  amount: {type: money, required: true, min: 0}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
"""


class RecipeEditor(forms.Textarea):
    """A monospace textarea; static/js/recipe-editor.js adds line numbers and
    jump-to-line on the located errors (the page works without it)."""

    def __init__(self) -> None:
        super().__init__(
            attrs={"class": "recipe-editor", "rows": 28, "spellcheck": "false", "wrap": "off"}
        )

    class Media:
        css = {"all": ["css/diagram.css"]}
        js = ["js/recipe-editor.js"]


class PublishForm(forms.Form):
    source = forms.CharField(
        label="Recipe (YAML or JSON)", widget=RecipeEditor(), strip=False, max_length=200_000
    )


class SimulateForm(forms.Form):
    requester = forms.CharField(label="Requester (username)", max_length=150)
    inputs = forms.CharField(
        label="Inputs",
        required=False,
        widget=forms.Textarea(attrs={"class": "recipe-editor recipe-editor--short", "rows": 8}),
        help_text='A JSON object ({"amount": 6000}) or one key=value per line.',
    )
    at = forms.DateTimeField(
        label="As of (optional)",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Resolve the org chart (absences, managers) as of this time; default now.",
    )

    def clean_requester(self) -> Person:
        username = self.cleaned_data["requester"].strip()
        person = Person.objects.filter(username=username).first()
        if person is None:
            raise forms.ValidationError(f"No person with the username {username!r}.")
        return person

    def clean_inputs(self) -> dict[str, Any]:
        return parse_inputs(self.cleaned_data["inputs"])


def parse_inputs(text: str) -> dict[str, Any]:
    """A JSON object, or ``key=value`` lines (blank lines and # comments skipped)."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"line {exc.lineno}: not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise forms.ValidationError("The JSON must be an object of field: value.")
        return data
    data: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise forms.ValidationError(f"line {number}: expected key=value, got {line!r}")
        data[key.strip()] = value.strip()
    return data


def located(faults: list[Fault]) -> list[dict[str, Any]]:
    """Faults for the template: ``path:line: message`` and the line to jump to."""
    return [{"text": str(f), "line": f.line, "path": f.path, "message": f.message} for f in faults]


def diagram_of(version: WorkflowVersion | None, request: Request | None = None) -> str:
    """The version's SVG, safe to inline (render_svg escapes every text)."""
    if version is None:
        return ""
    try:
        recipe = version.recipe
    except RecipeError as exc:
        # Stored versions passed validation at publish; one that no longer parses
        # (a parser change) is shown as such rather than breaking the page.
        return format_html('<p class="errornote">This version cannot be drawn: {}</p>', exc)
    return mark_safe(render_svg(recipe, request=request))  # noqa: S308


# --- workflows and versions ------------------------------------------------------


class VersionInline(admin.TabularInline):
    model = WorkflowVersion
    fields = ("version_link", "published_by", "published_at", "short_hash")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ("-number",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="version")
    def version_link(self, version: WorkflowVersion) -> str:
        url = reverse("admin:approvals_workflowversion_change", args=[version.pk])
        return format_html('<a href="{}">v{}</a>', url, version.number)

    @admin.display(description="content hash")
    def short_hash(self, version: WorkflowVersion) -> str:
        return version.content_hash[:12]


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("key", "title", "latest", "version_count", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("key", "title")
    # Everything comes from the recipe; an author only retires or revives a workflow.
    readonly_fields = ("key", "title", "description", "latest_version", "created_at")
    fields = ("key", "title", "description", "is_active", "latest_version", "created_at")
    inlines = [VersionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workflow]:
        return (
            super()
            .get_queryset(request)
            .select_related("latest_version")
            .annotate(n_versions=Count("versions"))
        )

    @admin.display(description="latest", ordering="latest_version__number")
    def latest(self, workflow: Workflow) -> str:
        return f"v{workflow.latest_version.number}" if workflow.latest_version else "—"

    @admin.display(description="versions", ordering="n_versions")
    def version_count(self, workflow: Workflow) -> int:
        return workflow.n_versions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_author(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # requests point at their versions; retire instead

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("publish/", view(self.publish_view), name="approvals_workflow_publish"),
            path(
                "<int:pk>/publish/",
                view(self.publish_view),
                name="approvals_workflow_publish_version",
            ),
            path(
                "<int:pk>/simulate/", view(self.simulate_view), name="approvals_workflow_simulate"
            ),
            path("<int:pk>/diff/", view(self.diff_view), name="approvals_workflow_diff"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None):
        # A workflow is born from its first recipe: "Add" is "publish from YAML".
        return HttpResponseRedirect(reverse("admin:approvals_workflow_publish"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        workflow = self.get_object(request, object_id)
        extra = {
            "diagram": diagram_of(workflow.latest_version) if workflow else "",
            "may_publish": is_author(request.user),
            # "Add another" would mean "publish from YAML", which has its own button.
            "show_save_and_add_another": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def _context(self, request: HttpRequest, title: str, **more: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **more,
        }

    def _require_author(self, request: HttpRequest) -> None:
        if not is_author(request.user):
            raise PermissionDenied("Publishing and simulating need approvals.add_workflowversion.")

    def publish_view(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        """Publish a new version (of this workflow, or a new workflow from YAML)."""
        self._require_author(request)
        workflow = get_object_or_404(Workflow, pk=pk) if pk is not None else None
        faults: list[Fault] = []
        if request.method == "POST":
            form = PublishForm(request.POST)
            if form.is_valid():
                try:
                    version, created = services.publish(
                        source=form.cleaned_data["source"], author=request.user
                    )
                except InvalidInput as exc:
                    faults = exc.faults or [Fault("", exc.message)]
                else:
                    return self._published(request, version, created, workflow)
        else:
            based_on = request.GET.get("from")
            initial = STARTER_RECIPE
            if workflow is not None and workflow.latest_version is not None:
                version = workflow.latest_version
                if based_on and based_on.isdigit():
                    version = workflow.versions.filter(number=int(based_on)).first() or version
                initial = version.source
            form = PublishForm(initial={"source": initial})
        title = f"Publish a new version of {workflow.key}" if workflow else "Add workflow from YAML"
        context = self._context(
            request, title, form=form, workflow=workflow, faults=located(faults), media=form.media
        )
        return TemplateResponse(request, "admin/approvals/workflow/publish.html", context)

    def _published(
        self,
        request: HttpRequest,
        version: WorkflowVersion,
        created: bool,
        workflow: Workflow | None,
    ) -> HttpResponse:
        if created:
            messages.success(request, f"Published {version.workflow.key} v{version.number}.")
        else:
            messages.info(
                request,
                f"Nothing new: the content is the same as {version.workflow.key} "
                f"v{version.number}, so no version was created.",
            )
        if workflow is not None and version.workflow_id != workflow.pk:
            messages.warning(
                request,
                f"The recipe names the workflow {version.workflow.key!r}, not {workflow.key!r}: "
                f"it was published there.",
            )
        return HttpResponseRedirect(
            reverse("admin:approvals_workflowversion_change", args=[version.pk])
        )

    def simulate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Who would approve this? The plan for given inputs and requester; nothing written."""
        self._require_author(request)
        workflow = get_object_or_404(Workflow.objects.select_related("latest_version"), pk=pk)
        plan, faults = None, []
        form = SimulateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                plan = planning.simulate(
                    workflow_key=workflow.key,
                    requester=form.cleaned_data["requester"],
                    inputs=form.cleaned_data["inputs"],
                    at=form.cleaned_data["at"],
                )
            except ApprovalError as exc:
                faults = exc.faults or [Fault("", exc.message)]
            except RecipeError as exc:
                faults = exc.faults
        try:
            recipe = workflow.latest_version.recipe if workflow.latest_version else None
        except RecipeError:
            recipe = None
        context = self._context(
            request,
            f"Simulate {workflow.key}",
            form=form,
            workflow=workflow,
            plan=plan,
            plan_at=datetime.fromisoformat(plan["at"]) if plan else None,
            faults=located(faults),
            recipe_inputs=recipe.inputs if recipe else (),
            media=form.media,
        )
        return TemplateResponse(request, "admin/approvals/workflow/simulate.html", context)

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Two versions side by side: the sources, and the normalized recipes."""
        workflow = get_object_or_404(Workflow, pk=pk)
        if not self.has_view_permission(request, workflow):
            raise PermissionDenied
        versions = list(workflow.versions.order_by("-number"))
        by_number = {v.number: v for v in versions}
        error = ""
        new = versions[0] if versions else None
        old = versions[1] if len(versions) > 1 else new
        try:
            if request.GET.get("from"):
                old = by_number[int(request.GET["from"])]
            if request.GET.get("to"):
                new = by_number[int(request.GET["to"])]
        except (KeyError, ValueError):
            error = "No such version: choose among the versions listed."
        context = self._context(
            request,
            f"Compare versions of {workflow.key}",
            workflow=workflow,
            versions=versions,
            old=old,
            new=new,
            error=error,
            **(version_diff(old, new) if old and new else {}),
        )
        return TemplateResponse(request, "admin/approvals/workflow/diff.html", context)


def version_diff(old: WorkflowVersion, new: WorkflowVersion) -> dict[str, Any]:
    """The source diff (side by side, HTML) and the normalized-recipe diff (unified)."""
    old_lines, new_lines = old.source.splitlines(), new.source.splitlines()
    side_by_side = difflib.HtmlDiff(tabsize=2, wrapcolumn=70).make_table(
        old_lines, new_lines, f"v{old.number}", f"v{new.number}", context=True, numlines=3
    )

    def normalized(version: WorkflowVersion) -> list[str]:
        try:
            data = recipe_to_dict(version.recipe)
        except RecipeError as exc:
            return [f"(v{version.number} cannot be parsed: {exc})"]
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

    unified = [
        {"text": line, "kind": _line_kind(line)}
        for line in difflib.unified_diff(
            normalized(old), normalized(new), f"v{old.number}", f"v{new.number}", lineterm=""
        )
    ]
    return {
        # HtmlDiff escapes the lines it is given (<, >, &), so its table is safe to inline.
        "source_table": mark_safe(side_by_side),  # noqa: S308
        "normalized_diff": unified,
        "same_source": old_lines == new_lines,
    }


def _line_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "same")


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    """Published versions are never edited: every view here is read-only."""

    list_display = ("__str__", "workflow", "number", "published_by", "published_at")
    list_filter = ("workflow",)
    list_select_related = ("workflow", "published_by")
    search_fields = ("workflow__key", "source")
    fields = ("workflow", "number", "published_by", "published_at", "content_hash", "triggers")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions are made by publishing

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        if version is None:
            raise Http404("No such version.")
        previous = version.workflow.versions.filter(number__lt=version.number).first()
        extra = {
            "diagram": diagram_of(version),
            "source_lines": list(enumerate(version.source.splitlines(), start=1)),
            "previous": previous,
            "may_publish": is_author(request.user),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)


# --- requests and what hangs off them (read-only) --------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """States are protected and move only through the engine: look, never touch."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TaskInline(admin.TabularInline):
    model = Task
    fields = ("step_id", "round", "assignee", "on_behalf_of", "state", "due_at", "decided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("round", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Request)
class RequestAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "title", "workflow", "version", "requester", "state", "current_step",
        "created_at", "decided_at",
    )  # fmt: skip
    list_filter = ("state", "workflow", "created_at")
    search_fields = ("title", "requester__username", "entity_id")
    list_select_related = ("workflow", "workflow_version", "requester")
    date_hierarchy = "created_at"
    inlines = [TaskInline]
    readonly_fields = (
        "workflow", "workflow_version", "requester", "submitted_by", "title", "state",
        "current_step", "round", "inputs", "entity_type", "entity_id", "created_at",
        "updated_at", "decided_at",
    )  # fmt: skip
    fields = readonly_fields

    @admin.display(description="version", ordering="workflow_version__number")
    def version(self, obj: Request) -> str:
        return f"v{obj.workflow_version.number}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = {"diagram": diagram_of(obj.workflow_version, obj) if obj else ""}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "request", "step_id", "assignee", "on_behalf_of", "state", "due_at",
        "created_at", "decided_at",
    )  # fmt: skip
    list_filter = ("state", "request__workflow", "step_id")
    search_fields = ("assignee__username", "on_behalf_of__username", "step_id", "request__title")
    list_select_related = ("request__workflow", "assignee", "on_behalf_of")
    date_hierarchy = "created_at"


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("id", "request", "task", "decision", "decided_by", "on_behalf_of", "via",
                    "created_at")
    list_filter = ("decision", "via", "request__workflow")
    search_fields = ("decided_by__username", "comment", "request__title")
    list_select_related = ("request__workflow", "task", "decided_by", "on_behalf_of")
    date_hierarchy = "created_at"


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ("id", "request", "author", "created_at")
    search_fields = ("text", "author__username")
    list_select_related = ("request__workflow", "author")


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "filename", "request", "uploaded_by", "content_type", "size", "created_at",
    )  # fmt: skip
    search_fields = ("filename", "sha256")
    list_select_related = ("request__workflow", "uploaded_by")
