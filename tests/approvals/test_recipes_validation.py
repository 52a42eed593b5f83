"""Publish-time validation: every bad recipe is refused with the path and line of its fault.

In each case the line marked ``# <-`` is where the fault must be reported.
"""

from __future__ import annotations

import textwrap

import pytest

from approvals.recipes import RecipeError, parse_recipe
from approvals.recipes.schema import Fault

# Role -> member count: lets a quorum be checked against a role's size.
ROLES = {"legal": 1, "finance-approvers": 2, "approval-admins": 1, "auditors": 3}

HEADER = """\
workflow: purchase
title: Purchase
inputs:
  amount: {type: money}
  days: {type: integer}
  buyer: {type: user}
  note: {type: text}
  rush: {type: boolean}
"""

CASES: list[tuple[str, str, str, str]] = []


def top(name: str, text: str, path: str, fragment: str) -> None:
    CASES.append((name, textwrap.dedent(text), path, fragment))


def steps(name: str, text: str, path: str, fragment: str) -> None:
    CASES.append((name, HEADER + textwrap.dedent(text), path, fragment))


# --- loading ---------------------------------------------------------------
top(
    "yaml syntax",
    """\
    workflow: x
    title: T
    steps:
      - id: a
        approver: legal: finance  # <-
    """,
    "recipe",
    "invalid YAML",
)
top(
    "duplicate key",
    """\
    workflow: x
    title: T
    steps:
      - id: a
        approver: legal
        approver: legal  # <-
    """,
    "steps[0].approver",
    "duplicate key 'approver'",
)
top(
    "not a mapping",
    """\
    - workflow: x  # <-
    """,
    "recipe",
    "must be a mapping",
)

# --- top level ---------------------------------------------------------------
top(
    "unknown top key",
    """\
    workflow: x
    title: T
    colour: red  # <-
    steps: [{id: a, approver: legal}]
    """,
    "colour",
    "unknown key 'colour'",
)
top(
    "missing workflow",
    """\
    title: T  # <-
    steps: [{id: a, approver: legal}]
    """,
    "workflow",
    "needs 'workflow'",
)
top(
    "missing title",
    """\
    workflow: x  # <-
    steps: [{id: a, approver: legal}]
    """,
    "title",
    "needs 'title'",
)
top(
    "missing steps",
    """\
    workflow: x  # <-
    title: T
    """,
    "steps",
    "needs 'steps'",
)
top(
    "workflow key format",
    """\
    workflow: Purchase Order  # <-
    title: T
    steps: [{id: a, approver: legal}]
    """,
    "workflow",
    "not a workflow key",
)
top(
    "empty steps",
    """\
    workflow: x
    title: T
    steps: []  # <-
    """,
    "steps",
    "at least one step",
)
top(
    "steps not a list",
    """\
    workflow: x
    title: T
    steps: {id: a}  # <-
    """,
    "steps",
    "must be a list",
)
top(
    "version written by author",
    """\
    workflow: x
    title: T
    version: 3  # <-
    steps: [{id: a, approver: legal}]
    """,
    "version",
    "assigned on publish",
)
top(
    "visibility",
    """\
    workflow: x
    title: T
    visibility: secret  # <-
    steps: [{id: a, approver: legal}]
    """,
    "visibility",
    "public or restricted",
)
top(
    "viewers not a list",
    """\
    workflow: x
    title: T
    viewers: auditors  # <-
    steps: [{id: a, approver: legal}]
    """,
    "viewers",
    "list of strings",
)
top(
    "viewer role unknown",
    """\
    workflow: x
    title: T
    viewers:
      - auditors
      - spies  # <-
    steps: [{id: a, approver: legal}]
    """,
    "viewers[1]",
    "no role named 'spies'",
)
top(
    "triggers not strings",
    """\
    workflow: x
    title: T
    triggers:
      - 12  # <-
    steps: [{id: a, approver: legal}]
    """,
    "triggers[0]",
    "non-empty strings",
)
top(
    "trigger name format",
    """\
    workflow: x
    title: T
    triggers:
      - booking.cancellation_requested
      - Booking Cancelled  # <-
    steps: [{id: a, approver: legal}]
    """,
    "triggers[1]",
    "not an event name",
)
top(
    "fallback role unknown",
    """\
    workflow: x
    title: T
    fallback_role: nobody-here  # <-
    steps: [{id: a, approver: legal}]
    """,
    "fallback_role",
    "no role named",
)

# --- inputs --------------------------------------------------------------------
top(
    "input unknown key",
    """\
    workflow: x
    title: T
    inputs:
      amount: {type: money, colour: red}  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.amount.colour",
    "unknown key 'colour'",
)
top(
    "input missing type",
    """\
    workflow: x
    title: T
    inputs:
      amount: {required: true}  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.amount.type",
    "needs 'type'",
)
top(
    "input type unknown",
    """\
    workflow: x
    title: T
    inputs:
      amount:
        type: currency  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.amount.type",
    "unknown input type 'currency'",
)
top(
    "choice without options",
    """\
    workflow: x
    title: T
    inputs:
      level: {type: choice}  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.level.options",
    "needs options",
)
top(
    "choice with empty options",
    """\
    workflow: x
    title: T
    inputs:
      level:
        type: choice
        options: []  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.level.options",
    "non-empty list",
)
top(
    "choice with repeated option",
    """\
    workflow: x
    title: T
    inputs:
      level:
        type: choice
        options:
          - read
          - read  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.level.options[1]",
    "listed twice",
)
top(
    "choice option yaml boolean",
    """\
    workflow: x
    title: T
    inputs:
      agree:
        type: choice
        options:
          - maybe
          - yes  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.agree.options[1]",
    "non-empty string",
)
top(
    "options on a non-choice",
    """\
    workflow: x
    title: T
    inputs:
      amount:
        type: money
        options: [a]  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.amount.options",
    "apply to choice",
)
top(
    "min above max",
    """\
    workflow: x
    title: T
    inputs:
      days:
        type: integer
        min: 10
        max: 5  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.days.max",
    "below min",
)
top(
    "min on a string",
    """\
    workflow: x
    title: T
    inputs:
      name:
        type: string
        min: 3  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.name.min",
    "applies to integer, number and money",
)
top(
    "max not a number",
    """\
    workflow: x
    title: T
    inputs:
      days:
        type: integer
        max: lots  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.days.max",
    "must be a number",
)
top(
    "max_length on an integer",
    """\
    workflow: x
    title: T
    inputs:
      days:
        type: integer
        max_length: 3  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.days.max_length",
    "string and text",
)
top(
    "max_length zero",
    """\
    workflow: x
    title: T
    inputs:
      name:
        type: string
        max_length: 0  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.name.max_length",
    "at least 1",
)
top(
    "default of the wrong type",
    """\
    workflow: x
    title: T
    inputs:
      days:
        type: integer
        default: many  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.days.default",
    "whole number",
)
top(
    "default outside min",
    """\
    workflow: x
    title: T
    inputs:
      amount:
        type: money
        min: 10
        default: 5  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.amount.default",
    "at least 10",
)
top(
    "default not an option",
    """\
    workflow: x
    title: T
    inputs:
      level:
        type: choice
        options: [low, high]
        default: medium  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.level.default",
    "one of: low, high",
)
top(
    "required not a boolean",
    """\
    workflow: x
    title: T
    inputs:
      note:
        type: text
        required: sometimes  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.note.required",
    "true or false",
)
top(
    "input named like a scope name",
    """\
    workflow: x
    title: T
    inputs:
      now: {type: date}  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.now",
    "reserved",
)
top(
    "input name not an identifier",
    """\
    workflow: x
    title: T
    inputs:
      total-amount: {type: money}  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs.total-amount",
    "not an input name",
)
top(
    "inputs not a mapping",
    """\
    workflow: x
    title: T
    inputs: [amount]  # <-
    steps: [{id: a, approver: legal}]
    """,
    "inputs",
    "must be a mapping",
)

# --- steps: shape ----------------------------------------------------------------
steps(
    "unknown step key",
    """\
    steps:
      - id: a
        approver: legal
        colour: red  # <-
    """,
    "steps[0].colour",
    "unknown key 'colour'",
)
steps(
    "step missing id",
    """\
    steps:
      - approver: legal  # <-
    """,
    "steps[0].id",
    "needs 'id'",
)
steps(
    "two steps share an id",
    """\
    steps:
      - id: a
        approver: legal
      - id: a  # <-
        approver: finance-approvers
    """,
    "steps[1].id",
    "two steps have the id 'a'",
)
steps(
    "step id format",
    """\
    steps:
      - id: my step  # <-
        approver: legal
    """,
    "steps[0].id",
    "not a step id",
)
steps(
    "step of no kind",
    """\
    steps:
      - id: a  # <-
        when: amount > 5.0
    """,
    "steps[0]",
    "needs one of",
)
steps(
    "step of two kinds",
    """\
    steps:
      - id: a
        action: approve
        approver: legal  # <-
    """,
    "steps[0].approver",
    "one kind only",
)
steps(
    "action neither approve nor reject",
    """\
    steps:
      - id: a
        action: maybe  # <-
    """,
    "steps[0].action",
    "approve or reject",
)
steps(
    "unconditional action not last",
    """\
    steps:
      - id: a
        action: approve  # <-
      - id: b
        approver: legal
    """,
    "steps[0].action",
    "could never run",
)
steps(
    "deadline on an action step",
    """\
    steps:
      - id: a
        action: reject
        timeout: 4h  # <-
    """,
    "steps[0].timeout",
    "no deadline",
)
steps(
    "sla on an action step",
    """\
    steps:
      - id: a
        action: reject
        sla: {due: 4h}  # <-
    """,
    "steps[0].sla",
    "no deadline",
)

# --- steps: when -----------------------------------------------------------------
steps(
    "when does not compile",
    """\
    steps:
      - id: a
        when: amount > > 5  # <-
        approver: legal
    """,
    "steps[0].when",
    "does not parse",
)
steps(
    "when names an unknown input",
    """\
    steps:
      - id: a
        when: total > 5.0  # <-
        approver: legal
    """,
    "steps[0].when",
    "names 'total'",
)
steps(
    "when names an unknown inputs field",
    """\
    steps:
      - id: a
        when: inputs.total > 5.0  # <-
        approver: legal
    """,
    "steps[0].when",
    "names inputs.total",
)
steps(
    "when names an unknown requester field",
    """\
    steps:
      - id: a
        when: requester.boss == "x"  # <-
        approver: legal
    """,
    "steps[0].when",
    "requester.boss",
)
steps(
    "when int against double",
    """\
    steps:
      - id: a
        when: days > 2.5  # <-
        approver: legal
    """,
    "steps[0].when",
    "does not mix int and double",
)
steps(
    "when type error behind short circuit",
    """\
    steps:
      - id: a
        when: amount < 100.0 || note + 1 > 2  # <-
        approver: legal
    """,
    "steps[0].when",
    "type error",
)
steps(
    "when not a boolean",
    """\
    steps:
      - id: a
        when: amount  # <-
        approver: legal
    """,
    "steps[0].when",
    "not true or false",
)
steps(
    "when operand not a boolean",
    """\
    steps:
      - id: a
        when: days < 0 && note  # <-
        approver: legal
    """,
    "steps[0].when",
    "operand that gives a string",
)
steps(
    "when not a string",
    """\
    steps:
      - id: a
        when: [amount]  # <-
        approver: legal
    """,
    "steps[0].when",
    "CEL expression",
)

# --- steps: references ----------------------------------------------------------
steps(
    "approver role unknown",
    """\
    steps:
      - id: a
        approver: purchasing  # <-
    """,
    "steps[0].approver",
    "no role named 'purchasing'",
)
steps(
    "approver role: prefix unknown",
    """\
    steps:
      - id: a
        approver: "role:purchasing"  # <-
    """,
    "steps[0].approver",
    "no role named 'purchasing'",
)
steps(
    "approvers role unknown",
    """\
    steps:
      - id: a
        type: parallel
        approvers: purchasing  # <-
    """,
    "steps[0].approvers",
    "no role named",
)
steps(
    "branch role unknown",
    """\
    steps:
      - id: a
        type: parallel
        branches:
          - approver: legal
          - approver: purchasing  # <-
    """,
    "steps[0].branches[1].approver",
    "no role named",
)
steps(
    "escalate_to role unknown",
    """\
    steps:
      - id: a
        approver: legal
        sla:
          due: 4h
          escalate_to: purchasing  # <-
    """,
    "steps[0].sla.escalate_to",
    "no role named",
)
steps(
    "input reference to a missing input",
    """\
    steps:
      - id: a
        approver: "{{ inputs.owner }}"  # <-
    """,
    "steps[0].approver",
    "names no input",
)
steps(
    "input reference to a non-user input",
    """\
    steps:
      - id: a
        approver: "{{ inputs.amount }}"  # <-
    """,
    "steps[0].approver",
    "not user",
)
steps(
    "unknown template",
    """\
    steps:
      - id: a
        approver: "{{ requester.boss }}"  # <-
    """,
    "steps[0].approver",
    "not a known reference",
)
steps(
    "approver.manager outside escalate_to",
    """\
    steps:
      - id: a
        approver: "{{ approver.manager }}"  # <-
    """,
    "steps[0].approver",
    "only has a meaning in escalate_to",
)
steps(
    "user with no name",
    """\
    steps:
      - id: a
        approver: "user:"  # <-
    """,
    "steps[0].approver",
    "names no user",
)
steps(
    "reference that is not a name",
    """\
    steps:
      - id: a
        approver: "the finance team"  # <-
    """,
    "steps[0].approver",
    "not a reference",
)
steps(
    "reference not a string",
    """\
    steps:
      - id: a
        approver: 12  # <-
    """,
    "steps[0].approver",
    "non-empty string",
)

# --- steps: parallel and quorum -------------------------------------------------
steps(
    "parallel without branches or approvers",
    """\
    steps:
      - id: a  # <-
        type: parallel
    """,
    "steps[0]",
    "either `branches` or `approvers",
)
steps(
    "parallel with both",
    """\
    steps:
      - id: a  # <-
        type: parallel
        approvers: legal
        branches: [{approver: legal}]
    """,
    "steps[0]",
    "not both",
)
steps(
    "type not parallel",
    """\
    steps:
      - id: a
        type: serial  # <-
        approvers: legal
    """,
    "steps[0].type",
    "only step type is parallel",
)
steps(
    "approvers not a role",
    """\
    steps:
      - id: a
        type: parallel
        approvers: "user:frank"  # <-
    """,
    "steps[0].approvers",
    "must name a role",
)
steps(
    "branches empty",
    """\
    steps:
      - id: a
        type: parallel
        branches: []  # <-
    """,
    "steps[0].branches",
    "non-empty list",
)
steps(
    "branch unknown key",
    """\
    steps:
      - id: a
        type: parallel
        branches:
          - approver: legal
            weight: 2  # <-
    """,
    "steps[0].branches[0].weight",
    "unknown key 'weight'",
)
steps(
    "branch without approver",
    """\
    steps:
      - id: a
        type: parallel
        branches:
          - {}  # <-
    """,
    "steps[0].branches[0].approver",
    "needs 'approver'",
)
steps(
    "branches on an approval step",
    """\
    steps:
      - id: a
        approver: legal
        branches: [{approver: legal}]  # <-
    """,
    "steps[0].branches",
    "type: parallel",
)
steps(
    "quorum word unknown",
    """\
    steps:
      - id: a
        type: parallel
        approvers: auditors
        quorum: most  # <-
    """,
    "steps[0].quorum",
    "all, any, majority or a whole number",
)
steps(
    "quorum below one",
    """\
    steps:
      - id: a
        type: parallel
        approvers: auditors
        quorum: 0  # <-
    """,
    "steps[0].quorum",
    "at least 1",
)
steps(
    "quorum above branches",
    """\
    steps:
      - id: a
        type: parallel
        branches:
          - approver: legal
          - approver: "user:cfo"
        quorum: 3  # <-
    """,
    "steps[0].quorum",
    "with 2 possible approvers",
)
steps(
    "quorum above role size",
    """\
    steps:
      - id: a
        type: parallel
        approvers: finance-approvers
        quorum: 3  # <-
    """,
    "steps[0].quorum",
    "with 2 possible approvers",
)
steps(
    "quorum on an approval step",
    """\
    steps:
      - id: a
        approver: legal
        quorum: 1  # <-
    """,
    "steps[0].quorum",
    "type: parallel",
)
steps(
    "quorum boolean",
    """\
    steps:
      - id: a
        type: parallel
        approvers: auditors
        quorum: true  # <-
    """,
    "steps[0].quorum",
    "whole number",
)

# --- steps: deadlines -------------------------------------------------------------
for bad in ("30 minutes", "1.5h", "0h", "48", "-3d", "2y"):
    steps(
        f"malformed duration {bad}",
        f"""\
        steps:
          - id: a
            approver: legal
            timeout: "{bad}"  # <-
            on_timeout: remind
        """,
        "steps[0].timeout",
        "duration",
    )
steps(
    "sla due malformed",
    """\
    steps:
      - id: a
        approver: legal
        sla:
          due: two days  # <-
    """,
    "steps[0].sla.due",
    "not a duration",
)
for bad in ("75", "0%", "-10%", "half"):
    steps(
        f"malformed share {bad}",
        f"""\
        steps:
          - id: a
            approver: legal
            sla:
              due: 4h
              remind_at: "{bad}"  # <-
        """,
        "steps[0].sla.remind_at",
        "share",
    )
steps(
    "shares not increasing",
    """\
    steps:
      - id: a
        approver: legal
        sla:
          due: 4h
          remind_at: 90%
          escalate_at: 80%  # <-
    """,
    "steps[0].sla.escalate_at",
    "must come after remind_at",
)
steps(
    "explicit shares equal",
    """\
    steps:
      - id: a
        approver: legal
        sla:
          due: 4h
          escalate_at: 100%
          auto_action_at: 100%  # <-
          auto_action: reject
    """,
    "steps[0].sla.auto_action_at",
    "must come after escalate_at",
)
steps(
    "auto_action without auto_action_at",
    """\
    steps:
      - id: a
        approver: legal
        sla:
          due: 4h
          auto_action: reject  # <-
    """,
    "steps[0].sla.auto_action",
    "needs auto_action_at",
)
steps(
    "auto_action_at without auto_action",
    """\
    steps:
      - id: a
        approver: legal
        sla:
          due: 4h
          auto_action_at: 150%  # <-
    """,
    "steps[0].sla.auto_action_at",
    "needs auto_action",
)
steps(
    "auto_action unknown",
    """\
    steps:
      - id: a
        approver: legal
        sla:
          due: 4h
          auto_action_at: 150%
          auto_action: shrug  # <-
    """,
    "steps[0].sla.auto_action",
    "approve, reject or expire",
)
steps(
    "sla unknown key",
    """\
    steps:
      - id: a
        approver: legal
        sla:
          due: 4h
          nag_at: 50%  # <-
    """,
    "steps[0].sla.nag_at",
    "unknown key 'nag_at'",
)
steps(
    "sla without due",
    """\
    steps:
      - id: a
        approver: legal
        sla:  # <-
          remind_at: 50%
    """,
    "steps[0].sla.due",
    "needs 'due'",
)
steps(
    "timeout and sla",
    """\
    steps:
      - id: a
        approver: legal
        timeout: 4h
        on_timeout: remind
        sla: {due: 4h}  # <-
    """,
    "steps[0].sla",
    "not both",
)
steps(
    "on_timeout unknown",
    """\
    steps:
      - id: a
        approver: legal
        timeout: 4h
        on_timeout: panic  # <-
    """,
    "steps[0].on_timeout",
    "must be one of",
)
steps(
    "on_timeout without timeout",
    """\
    steps:
      - id: a
        approver: legal
        on_timeout: remind  # <-
    """,
    "steps[0].on_timeout",
    "needs a `timeout`",
)
steps(
    "timeout without on_timeout",
    """\
    steps:
      - id: a
        approver: legal
        timeout: 4h  # <-
    """,
    "steps[0].timeout",
    "needs an on_timeout",
)


def marked_line(text: str) -> int:
    marked = [n for n, line in enumerate(text.splitlines(), start=1) if "# <-" in line]
    assert len(marked) == 1, "each case marks exactly one line"
    return marked[0]


def faults_of(text: str, known_roles=ROLES) -> list[Fault]:
    with pytest.raises(RecipeError) as caught:
        parse_recipe(text, known_roles=known_roles)
    return caught.value.faults


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [pytest.param(text, path, fragment, id=name) for name, text, path, fragment in CASES],
)
def test_bad_recipe_is_refused_at_its_path_and_line(text: str, path: str, fragment: str) -> None:
    faults = faults_of(text)
    line = marked_line(text)
    matching = [f for f in faults if f.path == path and fragment in f.message]
    assert matching, f"no fault at {path} mentioning {fragment!r}; got {[str(f) for f in faults]}"
    assert matching[0].line == line, f"{matching[0]} should be on line {line}"


def test_yaml_error_found_later_names_where_it_began() -> None:
    text = "workflow: x\ntitle: T\nsteps:\n  - id: a\n    approver: [legal\n"
    (fault,) = faults_of(text)
    assert fault.path == "recipe"
    assert "while parsing a flow sequence (line 5)" in fault.message
    assert fault.line == 6  # where PyYAML found the problem: the end of the text


def test_every_fault_is_reported_not_just_the_first() -> None:
    text = HEADER + textwrap.dedent("""\
        colour: red
        steps:
          - id: a
            approver: purchasing
          - id: a
            type: parallel
            approvers: legal
            quorum: 0
          - id: c
            approver: legal
            timeout: 3 days
            on_timeout: escalate
        """)
    paths = {f.path for f in faults_of(text)}
    assert {
        "colour",
        "steps[0].approver",
        "steps[1].id",
        "steps[1].quorum",
        "steps[2].timeout",
    } <= paths


def test_faults_are_sorted_by_line_and_render_as_path_line_message() -> None:
    text = HEADER + "steps:\n  - id: b\n    approver: nobody\n  - id: a\n    action: maybe\n"
    faults = faults_of(text)
    assert [f.line for f in faults] == sorted(f.line for f in faults)
    assert str(faults[0]) == "steps[0].approver:11: there is no role named 'nobody'"
    assert faults[0].as_dict() == {
        "path": "steps[0].approver",
        "line": 11,
        "message": "there is no role named 'nobody'",
    }


def test_roles_are_not_checked_when_known_roles_is_none() -> None:
    text = HEADER + "steps:\n  - id: a\n    approver: anything-goes\n"
    recipe = parse_recipe(text, known_roles=None)
    assert recipe.steps[0].branches[0].value == "anything-goes"


def test_a_plain_collection_of_roles_checks_names_but_not_quorum_size() -> None:
    text = HEADER + textwrap.dedent("""\
        steps:
          - id: a
            type: parallel
            approvers: finance-approvers
            quorum: 5
        """)
    recipe = parse_recipe(text, known_roles={"finance-approvers"})
    assert recipe.steps[0].quorum.number == 5
    with pytest.raises(RecipeError):
        parse_recipe(text, known_roles=ROLES)  # a mapping knows the role has 2 members


def test_json_syntax_error_is_a_json_fault_with_its_line() -> None:
    text = '{\n  "workflow": "x",\n  "title": "T",\n  "steps": [\n    {"id": "a",}\n  ]\n}\n'
    (fault,) = faults_of(text)
    assert fault.path == "recipe"
    assert fault.message.startswith("invalid JSON")
    assert fault.line == 5


def test_json_faults_are_located_like_yaml() -> None:
    text = (
        '{"workflow": "x",\n "title": "T",\n "steps": [\n  {"id": "a", "approver": "nobody"}\n ]}\n'
    )
    (fault,) = faults_of(text)
    assert (fault.path, fault.line) == ("steps[0].approver", 4)


def test_json_duplicate_keys_are_refused() -> None:
    text = (
        '{"workflow": "x", "title": "T", "title": "U", "steps": [{"id": "a", "action": "approve"}]}'
    )
    (fault,) = faults_of(text)
    assert fault.path == "title"
    assert "duplicate key" in fault.message


def test_json_indented_with_tabs_still_parses() -> None:
    # Valid JSON that YAML refuses (tabs): loaded as JSON, without line numbers.
    text = (
        '{\n\t"workflow": "x",\n\t"title": "T",\n\t"steps": [{"id": "a", "action": "approve"}]\n}'
    )
    assert parse_recipe(text, known_roles=None).workflow == "x"


def test_yaml_python_tags_are_refused() -> None:
    text = "workflow: !!python/object/apply:os.system ['true']\ntitle: T\nsteps: []\n"
    (fault,) = faults_of(text)
    assert fault.path == "recipe"
    assert fault.line == 1


@pytest.mark.parametrize("source", ["", "   \n", "# only a comment\n"])
def test_empty_text_is_refused(source: str) -> None:
    (fault,) = faults_of(source)
    assert "empty" in fault.message


def test_a_mapping_source_has_paths_without_lines() -> None:
    data = {"workflow": "x", "title": "T", "steps": [{"id": "a", "approver": "nobody"}]}
    (fault,) = faults_of(data)
    assert (fault.path, fault.line) == ("steps[0].approver", None)


def test_something_that_is_not_a_recipe_is_refused() -> None:
    with pytest.raises(RecipeError) as caught:
        parse_recipe(12, known_roles=None)  # type: ignore[arg-type]
    assert caught.value.faults[0].path == "recipe"


def test_an_alias_bomb_is_refused_quickly() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(levels) + "\nworkflow: x\ntitle: T\nsteps: [{id: a, action: approve}]\n"
    faults = faults_of(text)
    assert {f.path for f in faults} == set("abcdefgh")  # unknown keys, found in no time


def test_deep_nesting_is_a_fault_not_a_crash() -> None:
    (fault,) = faults_of("[" * 5000 + "]" * 5000)
    assert "nested too deeply" in fault.message


def test_a_huge_recipe_is_refused() -> None:
    (fault,) = faults_of("workflow: x\ntitle: T\ndescription: " + "x" * 300_000 + "\n")
    assert "at most" in fault.message


@pytest.mark.parametrize(
    "expression",
    ["(" * 400 + "true" + ")" * 400, " || ".join(["amount > 1.0"] * 300)],
)
def test_monstrous_conditions_are_faults_not_crashes(expression: str) -> None:
    text = HEADER + f'steps:\n  - id: a\n    approver: legal\n    when: "{expression}"\n'
    (fault,) = faults_of(text)
    assert fault.path == "steps[0].when"


def test_a_faulty_when_is_not_also_called_unconditional() -> None:
    text = HEADER + textwrap.dedent("""\
        steps:
          - id: a
            when: nope > 1
            action: approve
          - id: b
            approver: legal
        """)
    assert [f.path for f in faults_of(text)] == ["steps[0].when"]


@pytest.mark.parametrize(
    "text", [pytest.param(text, id=name) for name, text, _path, _fragment in CASES]
)
def test_libyaml_and_the_pure_python_loader_load_alike(text: str, monkeypatch) -> None:
    """Loading takes libyaml's loader when PyYAML has it; what it gives (data, the line
    of every path, faults in the pure-Python loader's words) is the same either way."""
    from approvals.recipes import yamlloc

    if yamlloc._FAST_LOADER is None:
        pytest.skip("PyYAML was built without libyaml")
    fast = yamlloc.load_text(text)
    monkeypatch.setattr(yamlloc, "_FAST_LOADER", None)
    pure = yamlloc.load_text(text)
    assert (fast.data, fast.lines, fast.faults) == (pure.data, pure.lines, pure.faults)


def test_a_published_version_is_parsed_without_trying_its_conditions() -> None:
    """Stored versions were tried at publish: read again, their conditions are compiled,
    not run on sample values (which is most of a parse's time)."""
    text = HEADER + "steps:\n  - id: a\n    when: note + 1 > 2\n    approver: legal\n"
    (fault,) = faults_of(text, known_roles=None)
    assert "type error" in fault.message
    recipe = parse_recipe(text, known_roles=None, published=True)
    assert recipe.steps[0].when == "note + 1 > 2"
    with pytest.raises(RecipeError, match="not an input"):
        parse_recipe(text.replace("note + 1", "nothing + 1"), known_roles=None, published=True)
