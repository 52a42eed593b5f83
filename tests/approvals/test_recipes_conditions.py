"""CEL ``when`` conditions at run time, and the quorum rule."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from approvals.recipes import Quorum, Recipe, Step, clean_inputs, evaluate_when, parse_recipe

RECIPE = parse_recipe(
    """\
workflow: conditions
title: Conditions
inputs:
  amount:   {type: money}
  days:     {type: integer}
  ratio:    {type: number}
  urgent:   {type: boolean}
  category: {type: choice, options: [hardware, software, services]}
  start:    {type: date}
  owner:    {type: user}
  reason:   {type: text}
steps:
  - id: big
    when: amount > 5000
    approver: legal
  - id: long_sales
    when: days >= 14 && requester.department == "sales"
    approver: legal
  - id: kit
    when: category in ["hardware", "software"]
    approver: legal
  - id: guarded
    when: has(inputs.reason) && reason.size() > 3
    approver: legal
  - id: unless_reason
    when: "!has(inputs.reason) || reason == 'skip'"
    approver: legal
  - id: unguarded
    when: reason == "x"
    approver: legal
  - id: roles
    when: '"finance-approvers" in requester.roles || urgent'
    approver: legal
  - id: calendar
    when: now.getFullYear() >= 2026 && start < "2026-06-01"
    approver: legal
  - id: ratio
    when: ratio > 0.5 && inputs.ratio < 0.9
    approver: legal
  - id: always
    approver: legal
""",
    known_roles=None,
)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SALES = {"username": "sam", "department": "sales", "title": "AE", "roles": ["sales-reps"]}
FINANCE = {
    "username": "fiona",
    "department": "finance",
    "title": "Acct",
    "roles": ["finance-approvers"],
}


def when(step_id: str, requester=SALES, recipe: Recipe = RECIPE, **inputs):
    cleaned = clean_inputs(recipe, inputs)
    return evaluate_when(
        recipe.step(step_id), recipe=recipe, inputs=cleaned, requester=requester, now=NOW
    )


@pytest.mark.parametrize(("amount", "expected"), [("5000.01", True), ("5000", False), (12, False)])
def test_money_compared_as_a_double(amount, expected: bool) -> None:
    result = when("big", amount=amount)
    assert (result.value, result.error) == (expected, None)
    assert result.seen == {"amount": float(amount)}


@pytest.mark.parametrize(
    ("days", "requester", "expected"),
    [(14, SALES, True), (13, SALES, False), (20, FINANCE, False)],
)
def test_inputs_and_the_requester_together(days: int, requester, expected: bool) -> None:
    result = when("long_sales", requester=requester, days=days)
    assert result.value is expected
    assert result.seen == {"days": days, "requester.department": requester["department"]}


@pytest.mark.parametrize(
    ("category", "expected"), [("hardware", True), ("software", True), ("services", False)]
)
def test_in_a_list_literal(category: str, expected: bool) -> None:
    assert when("kit", category=category).value is expected


def test_has_guards_an_optional_input() -> None:
    # cel-python's compiled runner gets ``has() && ...`` wrong; these must not error.
    assert when("guarded").value is False and when("guarded").error is None
    assert when("guarded", reason="long enough").value is True
    assert when("guarded", reason="no").value is False
    assert when("unless_reason").value is True
    assert when("unless_reason", reason="skip").value is True
    assert when("unless_reason", reason="keep").value is False


def test_a_missing_optional_input_is_false_with_the_error_recorded() -> None:
    result = when("unguarded")
    assert result.value is False
    assert result.error and "reason" in result.error
    assert result.seen == {"reason": None}
    json.dumps(result.seen)


def test_requester_roles_and_booleans() -> None:
    assert when("roles", requester=FINANCE).value is True
    assert when("roles", requester=SALES, urgent="on").value is True
    assert when("roles", requester=SALES, urgent=False).value is False
    seen = when("roles", requester=FINANCE, urgent=False).seen
    assert seen == {"urgent": False, "requester.roles": ["finance-approvers"]}


def test_now_is_a_timestamp() -> None:
    result = when("calendar", start="2026-05-31")
    assert (result.value, result.error) == (True, None)
    assert result.seen == {"start": "2026-05-31", "now": NOW.isoformat()}
    assert when("calendar", start="2026-06-01").value is False


def test_a_naive_now_is_taken_as_utc() -> None:
    step = RECIPE.step("calendar")
    cleaned = clean_inputs(RECIPE, {"start": "2026-01-01"})
    result = evaluate_when(
        step, recipe=RECIPE, inputs=cleaned, requester=SALES, now=datetime(2026, 3, 2)
    )
    assert (result.value, result.error) == (True, None)


def test_the_inputs_map_and_bare_names_agree() -> None:
    result = when("ratio", ratio="0.7")
    assert result.value is True
    assert result.seen == {"ratio": 0.7, "inputs.ratio": 0.7}


def test_a_step_without_when_always_runs() -> None:
    result = when("always")
    assert (result.value, result.seen, result.error) == (True, {}, None)


def test_a_non_boolean_result_is_false_with_an_error() -> None:
    step = Step(id="odd", kind="approval", when="amount + 1.0")
    cleaned = clean_inputs(RECIPE, {"amount": "2"})
    result = evaluate_when(step, recipe=RECIPE, inputs=cleaned, requester=SALES, now=NOW)
    assert result.value is False
    assert "not true or false" in result.error


def test_a_type_error_at_run_time_is_false_with_an_error() -> None:
    # A stored version from before a check, say: never raises.
    step = Step(id="odd", kind="approval", when="days > 2.5")
    result = evaluate_when(step, recipe=RECIPE, inputs={"days": 3}, requester=SALES, now=NOW)
    assert result.value is False
    assert "no such overload" in result.error


def test_an_expression_that_does_not_compile_is_false_with_an_error() -> None:
    step = Step(id="odd", kind="approval", when="amount >")
    result = evaluate_when(step, recipe=RECIPE, inputs={}, requester=SALES, now=NOW)
    assert result.value is False
    assert "does not parse" in result.error


def test_seen_of_the_whole_maps_is_json_ready() -> None:
    step = Step(id="odd", kind="approval", when='size(inputs) > 1 && requester["title"] != ""')
    cleaned = clean_inputs(RECIPE, {"amount": "10", "days": 2})
    result = evaluate_when(step, recipe=RECIPE, inputs=cleaned, requester=SALES, now=NOW)
    assert result.value is True
    assert result.seen == {
        "inputs": {"amount": 10.0, "days": 2},
        "requester": {
            "username": "sam",
            "department": "sales",
            "title": "AE",
            "roles": ["sales-reps"],
        },
    }
    json.dumps(result.seen)


def test_the_example_recipes_conditions_run(tmp_path) -> None:
    from tests.approvals.test_recipes_parser import DEMO, ROLES

    leave = parse_recipe((DEMO / "leave_request.yaml").read_text(), known_roles=ROLES)
    short = clean_inputs(leave, {"start_date": "2026-04-01", "days": "2"})
    auto = leave.step("auto_approve_short")
    assert evaluate_when(auto, recipe=leave, inputs=short, requester=SALES, now=NOW).value
    discount = parse_recipe((DEMO / "discount.yaml").read_text(), known_roles=ROLES)
    deal = clean_inputs(
        discount,
        {"discount_pct": "25", "deal_value": "10000", "customer": "Acme", "justification": "x"},
    )
    outcomes = {
        step.id: evaluate_when(step, recipe=discount, inputs=deal, requester=SALES, now=NOW).value
        for step in discount.steps
    }
    assert outcomes == {
        "rep_tier": False,
        "sales_manager": False,
        "director_and_finance": True,
        "vp_sales": False,
        "cfo": False,
    }


def test_concurrent_evaluations_do_not_see_each_others_values() -> None:
    """cel-python's compiled runner keeps the activation in module globals; threads
    evaluating at once must still each get their own answer."""
    step = RECIPE.step("big")
    errors: list[str] = []
    start = threading.Barrier(8)

    def worker(amount: float) -> None:
        start.wait()
        expected = amount > 5000
        for _ in range(300):
            result = evaluate_when(
                step, recipe=RECIPE, inputs={"amount": amount}, requester=SALES, now=NOW
            )
            if result.value is not expected or result.seen != {"amount": amount}:
                errors.append(f"{amount}: {result}")
                return

    threads = [threading.Thread(target=worker, args=(a,)) for a in (1.0, 9000.0) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_evaluation_is_fast_once_compiled() -> None:
    step = RECIPE.step("long_sales")
    inputs = {"days": 20}
    evaluate_when(step, recipe=RECIPE, inputs=inputs, requester=SALES, now=NOW)
    runs = 500
    began = time.perf_counter()
    for _ in range(runs):
        evaluate_when(step, recipe=RECIPE, inputs=inputs, requester=SALES, now=NOW)
    per_run = (time.perf_counter() - began) / runs
    assert per_run < 0.002  # about 0.1 ms on the team's machines; generous for CI


# --- the quorum rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quorum", "n", "needed"),
    [
        (Quorum("all"), 3, 3),
        (Quorum("all"), 1, 1),
        (Quorum("any"), 3, 1),
        (Quorum("any"), 0, 0),
        (Quorum("majority"), 1, 1),
        (Quorum("majority"), 2, 2),
        (Quorum("majority"), 3, 2),
        (Quorum("majority"), 4, 3),
        (Quorum("majority"), 5, 3),
        (Quorum("number", 2), 5, 2),
        (Quorum("number", 3), 2, 2),  # fewer tasks than the number (the requester was skipped)
    ],
)
def test_quorum_needed(quorum: Quorum, n: int, needed: int) -> None:
    assert quorum.needed(n) == needed


@pytest.mark.parametrize(
    ("quorum", "text"),
    [(Quorum("all"), "all"), (Quorum("majority"), "majority"), (Quorum("number", 2), "2")],
)
def test_quorum_as_written(quorum: Quorum, text: str) -> None:
    assert str(quorum) == text
