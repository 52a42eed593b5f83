"""Parsing and publish-time validation of recipes. (Interface; being implemented.)"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .schema import Recipe


def parse_recipe(source: str | dict[str, Any], *, known_roles: Collection[str] | None) -> Recipe:
    """Parse YAML/JSON text (or an already-loaded mapping) into a Recipe.

    Raises RecipeError listing every fault with its path (``steps[2].quorum``)
    and, for text sources, the YAML line. ``known_roles`` None skips the
    "role exists" rule (used for stored versions)."""
    raise NotImplementedError


def content_hash(recipe: Recipe) -> str:
    """SHA-256 of the normalized recipe: the same content hashes the same,
    whatever its formatting or key order."""
    raise NotImplementedError
