"""The recipe language (RECIPES.md): parse, validate, evaluate.

- ``parse_recipe(source, known_roles=...)`` -> ``Recipe`` or raises ``RecipeError``
  with every located fault;
- ``clean_inputs(recipe, data)`` -> cleaned, JSON-ready inputs or raises ``InputError``;
- ``evaluate_when(step, recipe=..., inputs=..., requester=..., now=...)`` -> ``WhenResult``;
- ``recipe_for_version(version)`` -> the parsed recipe of a stored version, cached.
"""

from __future__ import annotations

from .cache import recipe_for_version
from .conditions import WhenResult, evaluate_when, reads_requester
from .inputs import InputError, clean_inputs
from .parser import content_hash, parse_recipe, recipe_to_dict
from .schema import (
    SLA,
    ApproverRef,
    Fault,
    InputSpec,
    Quorum,
    Recipe,
    RecipeError,
    Step,
)

__all__ = [
    "SLA",
    "ApproverRef",
    "Fault",
    "InputError",
    "InputSpec",
    "Quorum",
    "Recipe",
    "RecipeError",
    "Step",
    "WhenResult",
    "clean_inputs",
    "content_hash",
    "evaluate_when",
    "parse_recipe",
    "reads_requester",
    "recipe_for_version",
    "recipe_to_dict",
]
