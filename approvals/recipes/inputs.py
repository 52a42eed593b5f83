"""Validation of a request's inputs against the recipe (submit and resubmit).

Values arrive as JSON (API) or as form strings (pages); both are coerced to
one JSON-ready form that is stored on the request and fed to conditions:
money as a string with two decimals (``"1200.00"``, never a float that would
round), numbers as floats, integers as ints, dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .refs import USERNAME
from .schema import Fault, InputSpec, Recipe

MONEY_LIMIT = Decimal(10) ** 13
# Integers stay exact in JSON clients (JavaScript) and in CEL's 64-bit ints.
INTEGER_LIMIT = 2**53
_INTEGER = re.compile(r"[+-]?[0-9]{1,16}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TRUE = frozenset({"true", "on", "1", "yes"})
_FALSE = frozenset({"false", "off", "0", "no"})


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
    """Validate and coerce ``data`` (a mapping of field -> value) for ``recipe``.

    Returns the cleaned, JSON-serializable inputs; optional fields left empty
    and without a default are absent. Raises InputError with every fault."""
    if not isinstance(data, dict):
        raise InputError([Fault("inputs", "inputs must be an object of field: value")])
    faults: list[Fault] = []
    known = {spec.name for spec in recipe.inputs}
    for name in data:
        if name not in known:
            faults.append(Fault(f"inputs.{name}", f"unknown field {name!r}"))
    cleaned: dict[str, Any] = {}
    for spec in recipe.inputs:
        value = data.get(spec.name)
        if is_empty(value):
            if spec.default is not None:
                cleaned[spec.name] = spec.default
            elif spec.required:
                faults.append(Fault(f"inputs.{spec.name}", "this field is required"))
            continue
        try:
            cleaned[spec.name] = coerce_value(spec, value)
        except ValueError as exc:
            faults.append(Fault(f"inputs.{spec.name}", str(exc)))
    if faults:
        raise InputError(faults)
    return cleaned


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def coerce_value(spec: InputSpec, value: Any) -> Any:
    """One value of ``spec``'s type, JSON-ready. Raises ValueError with a message
    for the person who typed it. Also checks a recipe's ``default``."""
    coerce = _COERCERS[spec.type]
    return coerce(spec, value)


def _string(spec: InputSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise ValueError(f"must be at most {spec.max_length} characters (it has {len(value)})")
    return value


def _integer(spec: InputSpec, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueError("must be a whole number")
    if abs(value) > INTEGER_LIMIT:
        raise ValueError("is too large")
    _check_range(spec, value)
    return value


def _number(spec: InputSpec, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        value = float(value.strip())
    elif isinstance(value, int | Decimal):
        value = float(value)
    if not isinstance(value, float):
        raise ValueError("must be a number")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    _check_range(spec, value)
    return value


def _money(spec: InputSpec, value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("must be an amount of money")
    try:
        if isinstance(value, float):
            # The shortest repr: 0.1 is "0.1", not 0.1000000000000000055...
            amount = Decimal(repr(value))
        elif isinstance(value, int | Decimal):
            amount = Decimal(value)
        elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            amount = Decimal(value.strip())
        else:
            raise ValueError("must be an amount of money, such as 1200.00")
    except InvalidOperation:
        raise ValueError("must be an amount of money, such as 1200.00") from None
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    if abs(amount) >= MONEY_LIMIT:
        raise ValueError("is too large")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("may have at most two decimal places")
    amount = amount.quantize(Decimal("0.01"))
    _check_range(spec, amount)
    return str(amount)


def _boolean(spec: InputSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("must be true or false")


def _date(spec: InputSpec, value: Any) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError(f"{value.strip()!r} is not a date in the calendar") from None
    raise ValueError("must be a date written YYYY-MM-DD")


def _choice(spec: InputSpec, value: Any) -> str:
    if isinstance(value, str) and value in spec.options:
        return value
    shown = ", ".join(spec.options)
    raise ValueError(f"must be one of: {shown}")


def _user(spec: InputSpec, value: Any) -> str:
    if isinstance(value, str) and USERNAME.fullmatch(value.strip()):
        return value.strip()
    raise ValueError("must be a username")


def _check_range(spec: InputSpec, value: int | float | Decimal) -> None:
    number = float(value) if isinstance(value, Decimal) else value
    if spec.min is not None and number < spec.min:
        raise ValueError(f"must be at least {_show(spec.min)}")
    if spec.max is not None and number > spec.max:
        raise ValueError(f"must be at most {_show(spec.max)}")


def _show(bound: float | int) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


_COERCERS = {
    "string": _string,
    "text": _string,
    "integer": _integer,
    "number": _number,
    "money": _money,
    "boolean": _boolean,
    "date": _date,
    "choice": _choice,
    "user": _user,
}
