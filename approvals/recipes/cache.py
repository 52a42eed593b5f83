"""Parsed recipes, cached per workflow version (versions never change)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from .parser import parse_recipe
from .schema import Recipe, RecipeError
from .yamlloc import dump_loaded, load_dumped, load_text

if TYPE_CHECKING:
    from approvals.models import WorkflowVersion

logger = logging.getLogger(__name__)


def parse_stored(source: str) -> Recipe:
    """A stored version's recipe from its text. Roles are checked at publish; a role
    deleted since must not make a running request unreadable, so stored versions are
    parsed without the role check, and without publish's trial runs of conditions."""
    return parse_recipe(source, known_roles=None, published=True)


def stored_document(source: str) -> str:
    """What a version is parsed from later (``WorkflowVersion.document``): its text,
    loaded, as JSON with the lines of its values. "" when that would not give the very
    same recipe as the text (a YAML value JSON has no type for: a date, a number as a
    mapping key): such a version is parsed from its text."""
    try:
        loaded = load_text(source)
        document = dump_loaded(loaded)
        same = parse_recipe(load_dumped(document), known_roles=None, published=True)
        return document if same == parse_stored(source) else ""
    except (TypeError, ValueError, RecipeError):  # nothing a document could stand for
        return ""


# Parsing text costs ~0.5 ms (most of it YAML), a document ~0.1 ms, and a parsed
# recipe ~7 KiB: keep every version a large deployment has (about 4,500 at full
# scale) rather than parse them again in turn.
@lru_cache(maxsize=8192)
def _parse_cached(version_id: int, source: str, document: str) -> Recipe:
    if document:
        try:
            return parse_recipe(load_dumped(document), known_roles=None, published=True)
        except (ValueError, RecipeError) as exc:  # changed by hand: the text still holds
            logger.warning("workflow version %s: its stored document is unusable (%s); "
                           "parsed from its text", version_id, exc)
    return parse_stored(source)


def recipe_for_version(version: WorkflowVersion) -> Recipe:
    return _parse_cached(version.pk, version.source, version.document)
