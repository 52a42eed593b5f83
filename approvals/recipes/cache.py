"""Parsed recipes, cached per workflow version (versions never change)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from .parser import parse_recipe
from .schema import Recipe

if TYPE_CHECKING:
    from approvals.models import WorkflowVersion


# Parsing costs a few milliseconds and a parsed recipe ~7 KiB: keep every version
# a large deployment has (about 4,500 at full scale) rather than re-parse in turn.
@lru_cache(maxsize=8192)
def _parse_cached(version_id: int, source: str) -> Recipe:
    # Roles are checked at publish; a role deleted since must not make a running
    # request unreadable, so stored versions are parsed without the role check, and
    # without publish's trial runs of their conditions.
    return parse_recipe(source, known_roles=None, published=True)


def recipe_for_version(version: WorkflowVersion) -> Recipe:
    return _parse_cached(version.pk, version.source)
