"""Parsing good recipes: the typed form the engine reads, and the content hash."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from approvals.recipes import (
    SLA,
    ApproverRef,
    Quorum,
    Recipe,
    content_hash,
    parse_recipe,
    recipe_to_dict,
)

DEMO = Path(__file__).resolve().parents[2] / "approvals" / "demo"
ORG = yaml.safe_load((DEMO / "org.yaml").read_text())
ROLES = {name: len(members) for name, members in ORG["roles"].items()}

COMPLETE = textwrap.dedent("""\
    workflow: purchase_order
    title: Purchase order
    description: Buy goods or services for the company.
    inputs:
      amount:  {type: money, required: true, min: 0}
      vendor:  {type: string, required: true, max_length: 200}
      reason:  {type: text}
      owner:   {type: user, label: Budget owner, help: Who pays}
      category:
        type: choice
        options: [hardware, software, services]
        default: hardware
    visibility: restricted
    viewers: [procurement-auditors]
    triggers: [procurement.order_requested]
    fallback_role: legal
    steps:
      - id: auto_small
        when: amount < 100
        action: approve
      - id: manager
        approver: "{{ requester.manager }}"
        timeout: 48h
        on_timeout: escalate
      - id: finance
        when: amount > 5000
        approver: finance-approvers
        sla:
          due: 4h
          remind_at: 75%
          escalate_at: 100%
          escalate_to: "{{ approver.manager.manager }}"
          auto_action_at: 150%
          auto_action: reject
      - id: cfo_and_legal
        when: amount > 50000 || category == "services"
        type: parallel
        branches:
          - approver: "user:cfo"
          - approver: role:legal
          - approver: "{{ inputs.owner }}"
          - approver: "{{ requester.manager.manager }}"
        quorum: majority
      - id: finance_all
        type: parallel
        approvers: finance-approvers
        quorum: 2
    """)


def parse(text: str, known_roles=ROLES) -> Recipe:
    return parse_recipe(text, known_roles=known_roles)


@pytest.mark.parametrize("name", ["purchase_order", "leave_request", "discount", "db_access"])
def test_the_example_recipes_parse(name: str) -> None:
    recipe = parse((DEMO / f"{name}.yaml").read_text())
    assert recipe.workflow == name
    assert recipe.steps


def test_the_demo_copies_match_the_shared_examples() -> None:
    shared = Path("/work/shared/examples")
    if not shared.exists():
        pytest.skip("the shared examples live only on the team's machines")
    for path in shared.glob("*.yaml"):
        assert (DEMO / path.name).read_text() == path.read_text(), path.name


def test_the_complete_example_becomes_typed_objects() -> None:
    recipe = parse(COMPLETE)
    assert recipe.title == "Purchase order"
    assert recipe.visibility == "restricted"
    assert recipe.viewers == ("procurement-auditors",)
    assert recipe.triggers == ("procurement.order_requested",)
    assert recipe.fallback_role == "legal"
    assert [s.id for s in recipe.steps] == [
        "auto_small",
        "manager",
        "finance",
        "cfo_and_legal",
        "finance_all",
    ]
    amount = recipe.input("amount")
    assert amount is not None and amount.type == "money" and amount.required and amount.min == 0
    assert recipe.input("vendor").max_length == 200
    assert recipe.input("category").options == ("hardware", "software", "services")
    assert recipe.input("category").default == "hardware"
    owner = recipe.input("owner")
    assert (owner.label, owner.help, owner.display_label) == (
        "Budget owner",
        "Who pays",
        "Budget owner",
    )
    assert recipe.input("reason").display_label == "Reason"


def test_step_kinds_refs_and_quorums() -> None:
    auto, manager, finance, both, every = parse(COMPLETE).steps
    assert (auto.kind, auto.action, auto.when) == ("action", "approve", "amount < 100")
    assert manager.kind == "approval"
    assert manager.branches == (
        ApproverRef(kind="requester_manager", raw="{{ requester.manager }}", depth=1),
    )
    assert manager.quorum == Quorum("any")
    assert finance.branches[0].kind == "role" and finance.branches[0].value == "finance-approvers"
    assert both.kind == "parallel"
    assert [(r.kind, r.value, r.depth) for r in both.branches] == [
        ("user", "cfo", 0),
        ("role", "legal", 0),
        ("input", "owner", 0),
        ("requester_manager", "", 2),
    ]
    assert both.quorum == Quorum("majority")
    assert every.kind == "parallel" and every.branches == ()
    assert every.approvers is not None and every.approvers.value == "finance-approvers"
    assert every.quorum == Quorum("number", 2)


def test_steps_keep_their_lines() -> None:
    recipe = parse(COMPLETE)
    lines = COMPLETE.splitlines()
    for step in recipe.steps:
        assert lines[step.line - 1].strip() == f"- id: {step.id}"


def test_parallel_quorum_defaults_to_all() -> None:
    text = "workflow: x\ntitle: T\nsteps:\n  - id: a\n    type: parallel\n    approvers: legal\n"
    assert parse(text).steps[0].quorum == Quorum("all")


def test_full_sla_block() -> None:
    finance = parse(COMPLETE).step("finance")
    assert finance.sla == SLA(
        due=timedelta(hours=4),
        remind_at=0.75,
        escalate_at=1.0,
        escalate_to=ApproverRef(
            kind="approver_manager", raw="{{ approver.manager.manager }}", depth=2
        ),
        auto_action_at=1.5,
        auto_action="reject",
    )
    assert finance.sla.offset(finance.sla.auto_action_at) == timedelta(hours=6)


def sla_of(block: str) -> SLA | None:
    text = f"workflow: x\ntitle: T\nsteps:\n  - id: a\n    approver: legal\n    {block}\n"
    return parse(text).steps[0].sla


@pytest.mark.parametrize(
    ("short", "expected"),
    [
        ("escalate", SLA(timedelta(hours=48), remind_at=0.75, escalate_at=1.0)),
        ("remind", SLA(timedelta(hours=48), remind_at=1.0, escalate_at=None)),
        *[
            (
                action,
                SLA(
                    timedelta(hours=48),
                    remind_at=0.75,
                    escalate_at=None,
                    auto_action_at=1.0,
                    auto_action=action,
                ),
            )
            for action in ("approve", "reject", "expire")
        ],
    ],
)
def test_timeout_short_form_becomes_an_sla(short: str, expected: SLA) -> None:
    assert sla_of(f"timeout: 48h\n    on_timeout: {short}") == expected


def test_sla_defaults() -> None:
    assert sla_of("sla: {due: 2d}") == SLA(timedelta(days=2), 0.75, 1.0, None, None, None)


def test_a_default_escalation_that_would_not_come_before_the_auto_action_is_dropped() -> None:
    sla = sla_of("sla: {due: 4h, auto_action_at: 100%, auto_action: approve}")
    assert (sla.remind_at, sla.escalate_at, sla.auto_action_at) == (0.75, None, 1.0)
    # And a default reminder after an early explicit escalation.
    sla = sla_of("sla: {due: 4h, escalate_at: 50%}")
    assert (sla.remind_at, sla.escalate_at) == (None, 0.5)


def test_an_explicit_null_turns_a_stage_off() -> None:
    sla = sla_of("sla: {due: 4h, remind_at: null, escalate_at: ~}")
    assert (sla.remind_at, sla.escalate_at) == (None, None)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("48h", 172800), ("3d", 259200), ("2w", 1209600)],
)
def test_duration_units(text: str, seconds: int) -> None:
    assert sla_of(f"sla: {{due: {text}}}").due == timedelta(seconds=seconds)


def test_a_share_may_exceed_one_hundred_percent() -> None:
    sla = sla_of("sla: {due: 1h, auto_action_at: 250%, auto_action: expire}")
    assert sla.auto_action_at == 2.5


def test_when_true_written_as_a_yaml_boolean() -> None:
    text = "workflow: x\ntitle: T\nsteps:\n  - id: a\n    when: false\n    approver: legal\n"
    assert parse(text).steps[0].when == "false"


def test_a_loaded_mapping_parses_like_text_but_without_lines() -> None:
    from_data, from_text = parse(yaml.safe_load(COMPLETE)), parse(COMPLETE)
    assert recipe_to_dict(from_data) == recipe_to_dict(from_text)
    assert {s.line for s in from_data.steps} == {None}


# --- recipe_to_dict and content_hash ------------------------------------------------


def reordered(text: str) -> str:
    """The same recipe with every mapping's keys in reverse order, in block style,
    except the inputs themselves: their order is the form's order."""

    def flip(value, keep_order: bool = False):
        if isinstance(value, dict):
            items = list(value.items())
            if not keep_order:
                items.reverse()
            return {k: flip(v, keep_order=k == "inputs") for k, v in items}
        if isinstance(value, list):
            return [flip(v) for v in value]
        return value

    return yaml.safe_dump(flip(yaml.safe_load(text)), sort_keys=False)


def test_recipe_to_dict_is_json_ready_with_durations_in_seconds() -> None:
    data = recipe_to_dict(parse(COMPLETE))
    assert json.loads(json.dumps(data)) == data
    manager = data["steps"][1]
    assert manager["sla"] == {
        "due": 172800,
        "remind_at": 0.75,
        "escalate_at": 1.0,
        "escalate_to": None,
        "auto_action_at": None,
        "auto_action": None,
    }
    assert data["steps"][3]["branches"] == [
        "user:cfo",
        "legal",
        "{{ inputs.owner }}",
        "{{ requester.manager.manager }}",
    ]
    assert data["steps"][2]["sla"]["escalate_to"] == "{{ approver.manager.manager }}"
    assert data["steps"][3]["quorum"] == "majority"


def test_same_content_hashes_the_same_whatever_the_form() -> None:
    original = parse(COMPLETE)
    as_json = json.dumps(yaml.safe_load(COMPLETE), indent=2)
    commented = "# a comment\n" + COMPLETE.replace("title:", "title:    ")
    digest = content_hash(original)
    assert len(digest) == 64
    for variant in (as_json, reordered(COMPLETE), commented, yaml.safe_load(COMPLETE)):
        assert content_hash(parse(variant)) == digest


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # The short form and the block it means.
        ("timeout: 48h\n    on_timeout: escalate", "sla: {due: 2d}"),
        ("timeout: 48h\n    on_timeout: escalate", "sla: {due: 48h, remind_at: 75%}"),
        # The default escalation target, written out.
        ("sla: {due: 4h}", "sla: {due: 4h, escalate_to: '{{approver.manager}}'}"),
    ],
)
def test_equivalent_deadlines_hash_the_same(first: str, second: str) -> None:
    template = "workflow: x\ntitle: T\nsteps:\n  - id: a\n    approver: {ref}\n    {block}\n"
    one = parse(template.format(ref="legal", block=first))
    two = parse(template.format(ref="'role:legal'", block=second))
    assert content_hash(one) == content_hash(two)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("title: Purchase order", "title: Purchase orders"),
        ("when: amount < 100", "when: amount < 101"),
        ("timeout: 48h", "timeout: 47h"),
        ("quorum: majority", "quorum: all"),
        ("remind_at: 75%", "remind_at: 70%"),
        ("auto_action: reject", "auto_action: expire"),
        ("min: 0}", "min: 1}"),
        ("max_length: 200", "max_length: 201"),
        ("default: hardware", "default: software"),
        ("visibility: restricted", "visibility: public"),
        ('- approver: "user:cfo"', '- approver: "user:leo"'),
        ("description: Buy goods or services for the company.", "description: Buy."),
    ],
)
def test_any_semantic_change_changes_the_hash(old: str, new: str) -> None:
    assert old in COMPLETE
    roles = {**ROLES, "legal": 1}
    assert content_hash(parse(COMPLETE.replace(old, new), roles)) != content_hash(
        parse(COMPLETE, roles)
    )


def test_reordering_inputs_changes_the_hash_as_it_changes_the_form() -> None:
    text = "workflow: x\ntitle: T\ninputs:\n  a: {type: text}\n  b: {type: text}\n"
    text += "steps:\n  - {id: a, approver: legal}\n"
    swapped = text.replace(
        "  a: {type: text}\n  b: {type: text}", "  b: {type: text}\n  a: {type: text}"
    )
    assert swapped != text
    assert content_hash(parse(text)) != content_hash(parse(swapped))


def test_reordering_steps_changes_the_hash() -> None:
    text = "workflow: x\ntitle: T\nsteps:\n"
    text += "  - {id: a, approver: legal}\n  - {id: b, approver: legal}\n"
    swapped = text.replace("id: a", "id: TMP").replace("id: b", "id: a").replace("id: TMP", "id: b")
    assert content_hash(parse(text)) != content_hash(parse(swapped))
