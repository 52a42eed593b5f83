"""Parsing and publish-time validation of recipes (RECIPES.md, "Validation at publish").

Every fault is collected, not just the first, each with its path
(``steps[2].quorum``, indexes from 0) and, for text sources, its YAML line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from . import serialize
from .cel import RESERVED_NAMES
from .inputs import coerce_value
from .schema import Fault, InputSpec, Recipe, RecipeError
from .steps import parse_steps
from .validation import Context, type_name
from .yamlloc import Loaded, load_text

TOP_KEYS = (
    "workflow", "title", "description", "inputs", "visibility", "viewers", "triggers",
    "fallback_role", "steps",
)  # fmt: skip
INPUT_KEYS = ("type", "required", "min", "max", "max_length", "label", "help", "default", "options")
INPUT_TYPES = ("string", "text", "integer", "number", "money", "boolean", "date", "choice", "user")
NUMERIC_TYPES = ("integer", "number", "money")
WORKFLOW_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
INPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
TRIGGER = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*")


def parse_recipe(
    source: str | bytes | dict[str, Any] | Loaded,
    *,
    known_roles: Collection[str] | Mapping[str, Any] | None,
    published: bool = False,
) -> Recipe:
    """Parse YAML/JSON text (or an already-loaded mapping, or ``Loaded`` text with its
    lines) into a Recipe.

    Raises RecipeError listing every fault with its path (``steps[2].quorum``)
    and, for text sources, the YAML line. ``known_roles`` None skips the
    "role exists" rule (used for stored versions); a mapping of role -> member
    count (or members) also lets a quorum be checked against a role's size.
    ``published`` is for the text of a version already published: its ``when``
    conditions were tried on sample values then, and are only compiled again."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError:
            raise RecipeError([Fault("recipe", "the recipe is not UTF-8 text")]) from None
    if isinstance(source, str):
        loaded = load_text(source)
    elif isinstance(source, dict):
        loaded = Loaded(data=source)
    elif isinstance(source, Loaded):
        loaded = source
    else:
        raise RecipeError([Fault("recipe", "a recipe is YAML or JSON text, or a mapping")])
    ctx = Context(
        loaded=loaded, known_roles=known_roles, faults=list(loaded.faults), published=published
    )
    if loaded.data is None:
        raise RecipeError(ctx.faults or [Fault("recipe", "the recipe is empty", 1)])
    recipe = _parse_root(ctx, loaded.data)
    if ctx.faults or recipe is None:
        raise RecipeError(sorted(ctx.faults, key=lambda f: (f.line is None, f.line or 0)))
    return recipe


def content_hash(recipe: Recipe) -> str:
    """SHA-256 of the normalized recipe: the same content hashes the same,
    whatever its formatting or key order."""
    return serialize.content_hash(recipe)


recipe_to_dict = serialize.recipe_to_dict


def _parse_root(ctx: Context, data: Any) -> Recipe | None:
    if not isinstance(data, dict):
        ctx.fault("recipe", f"a recipe must be a mapping of keys, not {type_name(data)}")
        return None
    if "version" in data:
        ctx.fault("version", "version is assigned on publish; do not write it")
    extra = {k: v for k, v in data.items() if k != "version"}
    ctx.check_keys(
        extra, "", allowed=TOP_KEYS, required=("workflow", "title", "steps"), what="a recipe"
    )
    workflow = ctx.string(data, "workflow", "", nonempty=True)
    if workflow is not None and not WORKFLOW_KEY.fullmatch(workflow):
        ctx.fault(
            "workflow",
            f"{workflow!r} is not a workflow key: lowercase letters, digits, _ and -, "
            "at most 100 characters",
        )
    title = ctx.string(data, "title", "", nonempty=True)
    description = ctx.string(data, "description", "") or ""
    visibility = data.get("visibility", "public")
    if visibility not in ("public", "restricted"):
        ctx.fault("visibility", f"visibility must be public or restricted, not {visibility!r}")
    viewers = ctx.string_list(data, "viewers", "")
    for index, role in enumerate(viewers):
        ctx.check_role(role, f"viewers[{index}]")
    triggers = ctx.string_list(data, "triggers", "")
    for index, name in enumerate(triggers):
        if not TRIGGER.fullmatch(name):
            ctx.fault(
                f"triggers[{index}]",
                f"{name!r} is not an event name: lowercase words joined by dots, "
                "such as booking.cancellation_requested",
            )
    fallback_role = ctx.string(data, "fallback_role", "", nonempty=True)
    if fallback_role is not None:
        ctx.check_role(fallback_role, "fallback_role")
    specs, declared = _parse_inputs(ctx, data.get("inputs"))
    steps = parse_steps(ctx, data.get("steps"), specs, declared)
    if ctx.faults or workflow is None or title is None:
        return None
    return Recipe(
        workflow=workflow,
        title=title,
        steps=tuple(steps),
        description=description,
        inputs=tuple(specs),
        visibility=visibility,
        viewers=tuple(viewers),
        triggers=tuple(triggers),
        fallback_role=fallback_role or "approval-admins",
    )


def _parse_inputs(ctx: Context, raw: Any) -> tuple[list[InputSpec], set[str]]:
    if raw is None:
        return [], set()
    if not isinstance(raw, dict):
        ctx.fault(
            "inputs", f"inputs must be a mapping of name: {{type: ...}}, not {type_name(raw)}"
        )
        return [], set()
    specs: list[InputSpec] = []
    for name, body in raw.items():
        spec = _parse_input(ctx, str(name), body)
        if spec is not None:
            specs.append(spec)
    return specs, {str(name) for name in raw}


def _parse_input(ctx: Context, name: str, body: Any) -> InputSpec | None:
    path = f"inputs.{name}"
    before = len(ctx.faults)
    if not INPUT_NAME.fullmatch(name):
        ctx.fault(path, f"{name!r} is not an input name: letters, digits and _, not first a digit")
    elif name in RESERVED_NAMES:
        ctx.fault(path, f"{name!r} is a reserved word in conditions; choose another name")
    if not isinstance(body, dict):
        ctx.fault(
            path, f"an input must be a mapping such as {{type: string}}, not {type_name(body)}"
        )
        return None
    ctx.check_keys(body, path, allowed=INPUT_KEYS, required=("type",), what="an input")
    kind = body.get("type")
    if "type" in body and kind not in INPUT_TYPES:
        ctx.fault(f"{path}.type", f"unknown input type {kind!r} (types: {', '.join(INPUT_TYPES)})")
    required = body.get("required", False)
    if not isinstance(required, bool):
        ctx.fault(f"{path}.required", "required must be true or false")
    bounds: dict[str, float | int | None] = {}
    for key in ("min", "max"):
        value = body.get(key)
        if value is None:
            bounds[key] = None
        elif kind not in NUMERIC_TYPES:
            ctx.fault(f"{path}.{key}", f"{key} applies to integer, number and money inputs")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            ctx.fault(f"{path}.{key}", f"{key} must be a number")
        else:
            # 0 and 0.0 mean the same; keep one form so the content hash agrees.
            bounds[key] = int(value) if float(value).is_integer() else float(value)
    low, high = bounds.get("min"), bounds.get("max")
    if low is not None and high is not None and low > high:
        ctx.fault(f"{path}.max", f"max ({high}) is below min ({low})")
    max_length = body.get("max_length")
    if max_length is not None:
        if kind not in ("string", "text"):
            ctx.fault(f"{path}.max_length", "max_length applies to string and text inputs")
        elif isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            ctx.fault(f"{path}.max_length", "max_length must be a whole number of at least 1")
    options = _parse_options(ctx, body, path, kind)
    label = ctx.string(body, "label", path) or ""
    help_text = ctx.string(body, "help", path) or ""
    if kind not in INPUT_TYPES:
        return None
    spec = InputSpec(
        name=name,
        type=kind,
        required=required is True,
        min=bounds.get("min"),
        max=bounds.get("max"),
        max_length=max_length
        if isinstance(max_length, int) and kind in ("string", "text")
        else None,
        label=label,
        help=help_text,
        options=options,
    )
    if body.get("default") is not None:
        try:
            default = coerce_value(spec, body["default"])
        except ValueError as exc:
            ctx.fault(f"{path}.default", f"default {exc}")
        else:
            spec = InputSpec(**{**spec.__dict__, "default": default})
    return None if len(ctx.faults) > before else spec


def _parse_options(ctx: Context, body: dict[str, Any], path: str, kind: Any) -> tuple[str, ...]:
    if kind != "choice":
        if "options" in body:
            ctx.fault(f"{path}.options", "options apply to choice inputs")
        return ()
    options = body.get("options")
    if options is None:
        ctx.fault(f"{path}.options", "a choice input needs options (a list of strings)")
        return ()
    if not isinstance(options, list) or not options:
        ctx.fault(f"{path}.options", "options must be a non-empty list of strings")
        return ()
    out: list[str] = []
    for index, option in enumerate(options):
        if not isinstance(option, str) or not option:
            ctx.fault(
                f"{path}.options[{index}]",
                f"an option must be a non-empty string, not {type_name(option)} "
                "(quote yes/no/on/off, which YAML reads as booleans)",
            )
        elif option in out:
            ctx.fault(f"{path}.options[{index}]", f"option {option!r} is listed twice")
        else:
            out.append(option)
    return tuple(out)
