"""Validation of a request's inputs against the recipe. (Interface; being implemented.)"""

from __future__ import annotations

from typing import Any

from .schema import Fault, Recipe


class InputError(Exception):
    def __init__(self, faults: list[Fault]):
        self.faults = faults
        super().__init__("; ".join(str(f) for f in faults))

    def as_field_errors(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for fault in self.faults:
            out.setdefault(fault.path.removeprefix("inputs."), []).append(fault.message)
        return out


def clean_inputs(recipe: Recipe, data: Any) -> dict[str, Any]:
    raise NotImplementedError
