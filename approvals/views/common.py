"""Small helpers shared by the page views: input display, names, redirects."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from approvals.recipes import InputSpec, Recipe
from orgchart.models import Person


def format_value(spec: InputSpec | None, value: Any) -> str:
    """An input value as a person reads it: money with two places and separators,
    booleans as yes/no, dates as written."""
    if value is None or value == "":
        return "—"
    kind = spec.type if spec else None
    if kind == "money":
        try:
            return f"{Decimal(str(value)):,.2f}"
        except (InvalidOperation, ValueError):
            return str(value)
    if kind == "boolean" or isinstance(value, bool):
        return "Yes" if value else "No"
    if kind in ("integer", "number") and isinstance(value, int | float):
        return f"{value:,}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def input_rows(recipe: Recipe | None, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every input of a request with its label, in the recipe's order (unknown
    keys, from an older version, at the end)."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for spec in recipe.inputs if recipe else ():
        if spec.name in inputs:
            rows.append(
                {
                    "name": spec.name,
                    "label": spec.display_label,
                    "value": format_value(spec, inputs[spec.name]),
                    "long": spec.type == "text",
                }
            )
            seen.add(spec.name)
    for name, value in inputs.items():
        if name not in seen:
            rows.append(
                {
                    "name": name,
                    "label": name.replace("_", " ").capitalize(),
                    "value": format_value(None, value),
                    "long": False,
                }
            )
    return rows


def summary(recipe: Recipe | None, inputs: dict[str, Any], limit: int = 4) -> str:
    """One line from a request's inputs: "Amount 1,200.00 · Vendor Acme"."""
    parts = [
        f"{row['label']} {row['value']}"
        for row in input_rows(recipe, inputs)
        if not row["long"] and row["value"] != "—"
    ]
    text = " · ".join(parts[:limit])
    return text if len(text) <= 160 else text[:157] + "…"


def names_for(usernames: Iterable[str]) -> dict[str, str]:
    """Display names for usernames, in one query (delegation chains store usernames)."""
    wanted = {u for u in usernames if u}
    if not wanted:
        return {}
    people = Person.objects.filter(username__in=wanted).only("username", "name", "first_name",
                                                               "last_name")
    return {p.username: p.display_name for p in people}


def safe_next(request: HttpRequest, default: str) -> str:
    """The ``next`` field if it points back into this site, else ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def recipe_of(version: Any) -> Recipe | None:
    """A version's parsed recipe (cached), or None if it cannot be read."""
    try:
        return version.recipe
    except Exception:  # a stored version must never make a page fail
        return None
