"""Workflows and their immutable, numbered versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Workflow(models.Model):
    """A kind of request (``purchase_order``); its recipes live in versions."""

    key = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # An author may retire a workflow: no new requests, running ones go on.
    is_active = models.BooleanField(default=True)
    latest_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.title or self.key


class WorkflowVersion(models.Model):
    """One published recipe. Never edited: publishing again makes a new number."""

    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.TextField(help_text="The recipe as the author wrote it (YAML or JSON).")
    # The source, loaded, as JSON with the line of each value (recipes.stored_document):
    # what the engine parses the version from, ~5 times faster than the YAML (a fresh
    # worker process parses each version it meets once). "": parsed from the source.
    document = models.TextField(blank=True, default="", editable=False)
    # SHA-256 of the normalized recipe: publishing the latest content again is a no-op
    # (publishing an older version's content again is a revert, and makes a new number).
    content_hash = models.CharField(max_length=64)
    # Copied from the recipe so "who may see this request" is a query, not a parse.
    restricted = models.BooleanField(default=False)
    viewers = models.JSONField(default=list, blank=True)
    # Event names an integration may send instead of the key (copied from the recipe).
    triggers = models.JSONField(default=list, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="wfversion_number"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow.key} v{self.number}"

    @property
    def recipe(self):  # -> Recipe; typed import would be circular
        from approvals.recipes import recipe_for_version

        return recipe_for_version(self)
