"""Publishing recipes as immutable, numbered workflow versions."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count

from approvals.choices import Via
from approvals.errors import InvalidInput
from approvals.models import Workflow, WorkflowVersion
from approvals.recipes import (
    Fault,
    Recipe,
    RecipeError,
    content_hash,
    parse_recipe,
)
from approvals.recipes.cache import stored_document
from audit.services import Actor, record_event
from orgchart.models import Person, Role

# A recipe is a page of YAML; anything far larger is a mistake or an attack.
MAX_SOURCE = 200_000


def publish(*, source: str, author: Person | None = None) -> tuple[WorkflowVersion, bool]:
    """Validate and publish a recipe (YAML or JSON text). Returns the version and
    whether it is new: content identical to the latest version publishes nothing.
    Raises InvalidInput with ``faults`` (path, line, message)."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput(
            "The recipe is empty.", code="invalid_recipe", faults=[Fault("", "the recipe is empty")]
        )
    if len(source) > MAX_SOURCE:
        raise InvalidInput(
            f"The recipe is longer than {MAX_SOURCE} characters.",
            code="invalid_recipe",
            faults=[Fault("", "the recipe is too long")],
        )
    roles = dict(Role.objects.annotate(n=Count("memberships")).values_list("name", "n"))
    try:
        recipe = parse_recipe(source, known_roles=roles)
    except RecipeError as exc:
        raise InvalidInput(
            f"The recipe has {len(exc.faults)} error(s): {exc}",
            code="invalid_recipe",
            faults=exc.faults,
        ) from exc
    digest = content_hash(recipe)
    with transaction.atomic():
        Workflow.objects.get_or_create(
            key=recipe.workflow,
            defaults={"title": recipe.title, "description": recipe.description},
        )
        workflow = (
            Workflow.objects.select_for_update(of=("self",))
            .select_related("latest_version")
            .get(key=recipe.workflow)
        )
        latest = workflow.latest_version
        if latest is not None and latest.content_hash == digest:
            return latest, False
        _check_triggers(workflow, recipe)
        version = WorkflowVersion.objects.create(
            workflow=workflow,
            number=(latest.number if latest else 0) + 1,
            source=source,
            document=stored_document(source),
            content_hash=digest,
            triggers=list(recipe.triggers),
            restricted=recipe.visibility == "restricted",
            viewers=list(recipe.viewers),
            published_by=author,
        )
        workflow.latest_version = version
        workflow.title = recipe.title
        workflow.description = recipe.description
        workflow.save(update_fields=["latest_version", "title", "description"])
        record_event(
            event_type="workflow_published",
            actor=Actor(user=author.username if author else "system", via=Via.SYSTEM),
            workflow_key=workflow.key,
            workflow_version=version.number,
            payload={"content_hash": digest, "title": recipe.title, "steps": len(recipe.steps)},
        )
    return version, True


def _check_triggers(workflow: Workflow, recipe: Recipe) -> None:
    """One active workflow per event name."""
    if not recipe.triggers:
        return
    others = (
        Workflow.objects.filter(is_active=True, latest_version__isnull=False)
        .exclude(pk=workflow.pk)
        .select_related("latest_version")
    )
    taken = {t: w.key for w in others for t in w.latest_version.triggers}
    faults = [
        Fault(f"triggers[{i}]", f"event {name!r} already starts workflow {taken[name]!r}")
        for i, name in enumerate(recipe.triggers)
        if name in taken
    ]
    if faults:
        raise InvalidInput(str(faults[0]), code="invalid_recipe", faults=faults)
