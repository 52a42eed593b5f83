"""A request's inputs: coerced from JSON or form strings, refused with a located fault."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from approvals.recipes import InputError, Recipe, clean_inputs, parse_recipe

RECIPE = parse_recipe(
    """\
workflow: everything
title: Every input type
inputs:
  vendor:   {type: string, required: true, max_length: 10}
  reason:   {type: text}
  days:     {type: integer, min: 1, max: 60}
  discount: {type: number, min: 0, max: 100}
  amount:   {type: money, min: 0, max: 1000000}
  urgent:   {type: boolean}
  start:    {type: date}
  level:    {type: choice, options: [low, high]}
  owner:    {type: user}
  seats:    {type: integer, default: 1}
  tier:     {type: choice, options: [gold, silver], default: silver}
steps:
  - id: a
    approver: legal
""",
    known_roles=None,
)


def clean(**data) -> dict:
    return clean_inputs(RECIPE, {"vendor": "Acme", **data})


def refusal(recipe: Recipe = RECIPE, **data) -> dict[str, list[str]]:
    with pytest.raises(InputError) as caught:
        clean_inputs(recipe, {"vendor": "Acme", **data})
    return caught.value.as_field_errors()


def test_defaults_are_applied_and_empty_optionals_are_absent() -> None:
    assert clean() == {"vendor": "Acme", "seats": 1, "tier": "silver"}
    assert clean(reason="", days=None, seats="") == {"vendor": "Acme", "seats": 1, "tier": "silver"}


def test_the_result_is_json_ready() -> None:
    cleaned = clean(
        reason="why",
        days="3",
        discount="12.5",
        amount=1200.5,
        urgent="on",
        start="2026-03-01",
        level="high",
        owner="alice",
    )
    assert json.loads(json.dumps(cleaned)) == cleaned
    assert cleaned == {
        "vendor": "Acme",
        "reason": "why",
        "days": 3,
        "discount": 12.5,
        "amount": "1200.50",
        "urgent": True,
        "start": "2026-03-01",
        "level": "high",
        "owner": "alice",
        "seats": 1,
        "tier": "silver",
    }


@pytest.mark.parametrize("data", [None, [], "amount=5", 12])
def test_inputs_must_be_an_object(data) -> None:
    with pytest.raises(InputError) as caught:
        clean_inputs(RECIPE, data)
    assert [f.path for f in caught.value.faults] == ["inputs"]


def test_unknown_fields_are_refused() -> None:
    assert refusal(colour="red") == {"colour": ["unknown field 'colour'"]}


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_required_fields_are_enforced(empty) -> None:
    assert refusal(vendor=empty) == {"vendor": ["this field is required"]}
    with pytest.raises(InputError):
        clean_inputs(RECIPE, {})


def test_every_fault_is_reported_with_its_path() -> None:
    with pytest.raises(InputError) as caught:
        clean_inputs(RECIPE, {"days": "many", "amount": "1.001", "nope": 1})
    assert sorted(f.path for f in caught.value.faults) == [
        "inputs.amount",
        "inputs.days",
        "inputs.nope",
        "inputs.vendor",
    ]


# --- strings ---------------------------------------------------------------------------


def test_strings_keep_their_text() -> None:
    assert clean(reason="  spaced  ")["reason"] == "  spaced  "


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 11, "at most 10 characters"),
        (12, "must be text"),
        (["a"], "must be text"),
        ("nul\x00byte", "NUL"),
    ],
)
def test_bad_strings(value, message: str) -> None:
    (error,) = refusal(vendor=value)["vendor"]
    assert message in error


# --- integers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), ("3", 3), (" 42 ", 42), (7.0, 7), (60, 60)]
)
def test_integers(value, expected: int) -> None:
    assert clean(days=value)["days"] == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "whole number"),
        (2.5, "whole number"),
        ("2.5", "whole number"),
        ("three", "whole number"),
        (0, "at least 1"),
        (61, "at most 60"),
        ("9" * 40, "whole number"),
        (2**60, "too large"),
    ],
)
def test_bad_integers(value, message: str) -> None:
    (error,) = refusal(days=value)["days"]
    assert message in error


# --- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12, 12.0), (12.5, 12.5), ("12.5", 12.5), (".5", 0.5), ("1e1", 10.0), (Decimal("3.25"), 3.25)],
)
def test_numbers_become_floats(value, expected: float) -> None:
    result = clean(discount=value)["discount"]
    assert isinstance(result, float) and result == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "finite"),
        (math.inf, "finite"),
        ("nan", "must be a number"),
        ("inf", "must be a number"),
        ("1e999", "finite"),
        (False, "must be a number"),
        ("12,5", "must be a number"),
        (-1, "at least 0"),
        (100.5, "at most 100"),
    ],
)
def test_bad_numbers(value, message: str) -> None:
    (error,) = refusal(discount=value)["discount"]
    assert message in error


# --- money -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1200, "1200.00"),
        ("1200", "1200.00"),
        ("1200.5", "1200.50"),
        (1200.5, "1200.50"),
        (0.1, "0.10"),
        ("0.07", "0.07"),
        (Decimal("99.99"), "99.99"),
        ("1e3", "1000.00"),
        (0, "0.00"),
    ],
)
def test_money_becomes_a_two_decimal_string(value, expected: str) -> None:
    assert clean(amount=value)["amount"] == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.001", "two decimal places"),
        (0.125, "two decimal places"),
        ("NaN", "amount of money"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        ("1e13", "too large"),
        (10**13, "too large"),
        (True, "amount of money"),
        ("12 EUR", "amount of money"),
        ("-0.01", "at least 0"),
        ("1000000.01", "at most 1000000"),
    ],
)
def test_bad_money(value, message: str) -> None:
    (error,) = refusal(amount=value)["amount"]
    assert message in error


def test_money_without_bounds_may_be_negative_but_not_huge() -> None:
    recipe = parse_recipe(
        "workflow: x\ntitle: T\ninputs:\n  refund: {type: money}\nsteps:\n"
        "  - {id: a, approver: legal}\n",
        known_roles=None,
    )
    assert clean_inputs(recipe, {"refund": "-25.5"}) == {"refund": "-25.50"}
    assert clean_inputs(recipe, {"refund": "9999999999999.99"}) == {"refund": "9999999999999.99"}


# --- booleans, dates, choices, users --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("on", True),
        ("1", True),
        ("0", False),
        ("TRUE", True),
        (1, True),
        (0, False),
    ],
)
def test_booleans(value, expected: bool) -> None:
    assert clean(urgent=value)["urgent"] is expected


@pytest.mark.parametrize("value", ["maybe", 2, "2", [], 0.5])
def test_bad_booleans(value) -> None:
    assert refusal(urgent=value) == {"urgent": ["must be true or false"]}


def test_dates_are_kept_as_iso_strings() -> None:
    assert clean(start="2026-02-28")["start"] == "2026-02-28"
    assert clean(start=" 2028-02-29 ")["start"] == "2028-02-29"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-30", "not a date in the calendar"),
        ("28/02/2026", "YYYY-MM-DD"),
        ("20260228", "YYYY-MM-DD"),
        ("2026-02-28T10:00:00", "YYYY-MM-DD"),
        (20260228, "YYYY-MM-DD"),
    ],
)
def test_bad_dates(value, message: str) -> None:
    (error,) = refusal(start=value)["start"]
    assert message in error


def test_choices() -> None:
    assert clean(level="low")["level"] == "low"
    assert refusal(level="medium") == {"level": ["must be one of: low, high"]}
    assert refusal(level="LOW") == {"level": ["must be one of: low, high"]}


def test_users_are_usernames_checked_later_by_the_engine() -> None:
    assert clean(owner=" nobody-in-the-chart ")["owner"] == "nobody-in-the-chart"
    for bad in (12, "two words", ["alice"]):
        assert refusal(owner=bad) == {"owner": ["must be a username"]}


def test_a_default_is_not_used_when_a_value_is_given() -> None:
    assert clean(seats="4", tier="gold")["seats"] == 4
    assert clean(tier="gold")["tier"] == "gold"
    assert refusal(seats="lots") == {"seats": ["must be a whole number"]}


def test_date_default_written_as_a_yaml_date() -> None:
    recipe = parse_recipe(
        "workflow: x\ntitle: T\ninputs:\n  start: {type: date, default: 2026-01-05}\n"
        "  price: {type: money, default: 12.5}\nsteps:\n  - {id: a, approver: legal}\n",
        known_roles=None,
    )
    assert clean_inputs(recipe, {}) == {"start": "2026-01-05", "price": "12.50"}
