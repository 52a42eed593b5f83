"""CEL ``when`` conditions: the publish-time check and the run-time evaluation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celpy import celtypes

from . import cel
from .schema import InputSpec, Recipe, Step


@dataclass(frozen=True)
class WhenResult:
    value: bool
    # The names the expression referenced, with the values it saw (for the audit trail).
    seen: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def evaluate_when(
    step: Step,
    *,
    recipe: Recipe,
    inputs: dict[str, Any],
    requester: dict[str, Any],
    now: datetime,
) -> WhenResult:
    """Evaluate the step's ``when``. Never raises: a failure is False with ``error``.

    ``inputs`` are cleaned inputs (``clean_inputs``); a missing optional input is
    simply absent, so an expression that reads it fails and the step is skipped.
    ``requester`` has ``username``, ``department``, ``title`` and ``roles``."""
    if step.when is None:
        return WhenResult(True)
    try:
        compiled = cel.compile_expression(step.when)
    except cel.CelCompileError as exc:  # published recipes compile; stored ones may not
        return WhenResult(False, {}, f"when {exc}")
    seen = _seen(compiled, recipe, inputs, requester, now)
    try:
        activation = _activation(compiled, recipe, inputs, requester, now)
        value = cel.run(compiled, activation)
    except Exception as exc:  # CEL errors, and bad stored values failing conversion
        return WhenResult(False, seen, cel.describe_error(exc))
    if not _is_bool(value):
        return WhenResult(False, seen, f"when gave {_json(value)!r}, not true or false")
    return WhenResult(bool(value), seen)


def reads_requester(step: Step) -> bool:
    """Whether the step's ``when`` reads ``requester`` (so the caller need not look
    the requester's roles up for the others)."""
    if step.when is None:
        return False
    try:
        return "requester" in cel.compile_expression(step.when).names
    except cel.CelCompileError:
        return False  # evaluate_when reports it without reading anything


def check_when(
    text: str,
    specs: Sequence[InputSpec],
    *,
    declared: set[str] | None = None,
    try_samples: bool = True,
) -> list[str]:
    """Publish-time faults of a ``when``: it must compile, name only inputs that
    exist, and give a boolean without a type error for sample values of the
    declared input types (unless ``try_samples`` is off). ``declared`` are all input
    names written, including ones whose spec is faulty (those are reported there, and
    not tried here)."""
    try:
        compiled = cel.compile_expression(text)
    except cel.CelCompileError as exc:
        return [str(exc)]
    by_name = {spec.name: spec for spec in specs}
    known = set(by_name) | (declared or set())
    problems: list[str] = []
    for name in sorted(compiled.names - set(cel.SCOPE_NAMES) - known):
        problems.append(f"names {name!r}, which is not an input of this workflow")
    for name in sorted(compiled.input_fields - known):
        problems.append(f"names inputs.{name}, which is not an input of this workflow")
    for name in sorted(compiled.requester_fields - set(cel.REQUESTER_FIELDS)):
        problems.append(
            f"names requester.{name}; the requester has {', '.join(cel.REQUESTER_FIELDS)}"
        )
    if problems or not try_samples:
        return problems
    if (compiled.names | compiled.input_fields) - set(cel.SCOPE_NAMES) - set(by_name) or (
        compiled.whole_inputs and known - set(by_name)
    ):
        return []  # reads an input whose spec is faulty: no sample to try it with
    # The operands first: a type error is then shown in the smallest part that has it.
    texts = [*compiled.operands, text]
    for part in texts:
        problem = _try_samples(part, specs, whole=part is text)
        if problem:
            where = "" if part is text else f" (in {part!r})"
            return [f"{problem}{where}"]
    return []


def _try_samples(text: str, specs: Sequence[InputSpec], *, whole: bool) -> str | None:
    compiled = cel.compile_expression(text)
    failures: list[str] = []
    for variant in (0, 1):
        activation = _sample_activation(specs, variant)
        try:
            value = cel.run(compiled, activation)
        except Exception as exc:
            if cel.is_type_error(exc):
                return f"has a type error: {_type_hint(cel.describe_error(exc))}"
            failures.append(cel.describe_error(exc))
            continue
        if not _is_bool(value):
            kind = type(value).__name__.removesuffix("Type").lower()
            what = "gives" if whole else "has an operand that gives"
            article = "an" if kind[:1] in "aeiou" else "a"
            return f"{what} {article} {kind}, not true or false"
    if len(failures) == 2:
        # Failing whatever the values: an index of a missing key, say.
        return f"fails for every value: {failures[0]}"
    return None


def _type_hint(detail: str) -> str:
    if "IntType" in detail and "DoubleType" in detail:
        return (
            "CEL does not mix int and double: compare integer inputs with whole "
            "numbers (14) and money or number inputs with decimals (14.0)"
        )
    return f"these values do not go together ({detail})"


def _sample_activation(specs: Sequence[InputSpec], variant: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in specs:
        values[spec.name] = _sample(spec, variant)
    activation: dict[str, Any] = {
        name: cel.to_cel(spec.type, values[spec.name]) for name, spec in _named(specs)
    }
    activation["inputs"] = celtypes.MapType(
        {celtypes.StringType(k): v for k, v in activation.items()}
    )
    activation["requester"] = cel.requester_to_cel(
        {"username": "sample", "department": "sample", "title": "sample", "roles": ["sample"]}
    )
    activation["now"] = cel.now_to_cel(datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    return activation


def _named(specs: Sequence[InputSpec]) -> list[tuple[str, InputSpec]]:
    return [(spec.name, spec) for spec in specs]


def _sample(spec: InputSpec, variant: int) -> Any:
    """Two sets of values, so that a condition dividing by an input, say, is not
    refused just because one sample is zero."""
    if spec.type in ("money", "number"):
        return (1.0, 0.0)[variant]
    if spec.type == "integer":
        return (1, 0)[variant]
    if spec.type == "boolean":
        return (True, False)[variant]
    if spec.type == "choice" and spec.options:
        return spec.options[0 if variant == 0 else -1]
    if spec.type == "date":
        return "2026-01-05"
    return ("sample", "")[variant]


def _activation(
    compiled: cel.Compiled,
    recipe: Recipe,
    inputs: Mapping[str, Any],
    requester: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Only what the expression reads is converted: this is the hot path."""
    activation: dict[str, Any] = {}
    for name in compiled.names:
        if name == "inputs":
            activation["inputs"] = celtypes.MapType(
                {
                    celtypes.StringType(k): _input_to_cel(recipe, k, v)
                    for k, v in inputs.items()
                    if v is not None
                }
            )
        elif name == "requester":
            activation["requester"] = cel.requester_to_cel(requester)
        elif name == "now":
            activation["now"] = cel.now_to_cel(now)
        elif inputs.get(name) is not None:
            activation[name] = _input_to_cel(recipe, name, inputs[name])
    return activation


def _input_to_cel(recipe: Recipe, name: str, value: Any) -> Any:
    spec = recipe.input(name)
    return cel.to_cel(spec.type if spec else "string", value)


def _seen(
    compiled: cel.Compiled,
    recipe: Recipe,
    inputs: Mapping[str, Any],
    requester: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The values the expression read, JSON-ready, as the audit trail records them.
    Inputs are shown as CEL saw them (money as a number)."""
    seen: dict[str, Any] = {}
    for key in compiled.seen_keys():
        head, _, rest = key.partition(".")
        if key == "now":
            seen[key] = now.isoformat()
        elif key == "inputs":
            seen[key] = {k: _as_seen(recipe, k, v) for k, v in inputs.items()}
        elif key == "requester":
            seen[key] = {f: _json(requester.get(f)) for f in cel.REQUESTER_FIELDS}
        elif head == "inputs":
            seen[key] = _as_seen(recipe, rest, inputs.get(rest))
        elif head == "requester":
            seen[key] = _json(requester.get(rest))
        else:
            seen[key] = _as_seen(recipe, key, inputs.get(key))
    return seen


def _as_seen(recipe: Recipe, name: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        return _json(_input_to_cel(recipe, name, value))
    except (TypeError, ValueError):
        return _json(value)


def _is_bool(value: Any) -> bool:
    # celtypes.BoolType subclasses int (bool cannot be subclassed).
    return isinstance(value, bool | celtypes.BoolType)


def _json(value: Any) -> Any:
    """celtypes and Python values as plain JSON values."""
    if value is None or _is_bool(value):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
