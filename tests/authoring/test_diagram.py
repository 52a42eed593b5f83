"""The workflow diagram: valid, self-contained SVG that says where a request stands."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

from approvals.diagram import progress_of, render_svg
from approvals.recipes import ApproverRef, Quorum, Recipe, Step, parse_recipe
from tests.authoring.conftest import hours, make_request, make_task, make_workflow

# The repository's copies of /work/shared/examples (tests/approvals checks they match);
# named, so a missing file fails instead of leaving an empty parameter list.
DEMO = Path(__file__).resolve().parents[2] / "approvals" / "demo"
EXAMPLES = [
    DEMO / f"{name}.yaml" for name in ("db_access", "discount", "leave_request", "purchase_order")
]
SVG = "{http://www.w3.org/2000/svg}"


def manager_ref() -> ApproverRef:
    return ApproverRef(kind="requester_manager", raw="{{ requester.manager }}", depth=1)


def nasty_recipe() -> Recipe:
    return Recipe(
        workflow="po",
        title='Orders <b>& "friends"</b>',
        steps=(
            Step(id="small", kind="action", action="approve", when='amount < 100 && v == "<&>"'),
            Step(id="manager", kind="approval", branches=(manager_ref(),)),
            Step(
                id="board",
                kind="parallel",
                when="amount >= 5000 & true",
                branches=(
                    ApproverRef(kind="user", raw="user:cfo", value="cfo"),
                    ApproverRef(kind="role", raw="legal", value="legal"),
                    ApproverRef(kind="role", raw="board<script>", value="board"),
                ),
                quorum=Quorum(kind="majority"),
            ),
        ),
    )


def parse(svg: str) -> ET.Element:
    # Our own output, not untrusted input: the stdlib parser checks well-formedness.
    return ET.fromstring(svg)  # noqa: S314


def texts(svg: str) -> str:
    root = parse(svg)
    return "\n".join("".join(node.itertext()) for node in root.iter(f"{SVG}text"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_draws_as_valid_svg_with_every_step(path):
    recipe = parse_recipe(path.read_text(), known_roles=None)

    svg = render_svg(recipe)

    root = parse(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    drawn = {g.get("data-step") for g in root.iter(f"{SVG}g") if g.get("data-step")}
    assert drawn == {step.id for step in recipe.steps}
    for step in recipe.steps:
        if step.when:
            assert f"when {step.when}"[:40] in texts(svg)


def test_text_is_escaped_and_nothing_executable_is_emitted():
    svg = render_svg(nasty_recipe())

    root = parse(svg)
    assert "when amount &lt; 100 &amp;&amp; v == &quot;&lt;&amp;&gt;&quot;" in svg
    assert 'when amount < 100 && v == "<&>"' in texts(svg)
    assert 'Orders <b>& "friends"</b>' in texts(svg)
    assert "<script" not in svg and "<b>" not in svg
    assert not any(el.tag.endswith(("script", "foreignObject")) for el in root.iter())
    assert "style=" not in svg and not re.search(r"\son[a-z]+=", svg)  # no event handlers


def test_parallel_branches_stand_side_by_side_with_their_quorum():
    svg = render_svg(nasty_recipe())
    root = parse(svg)

    board = next(g for g in root.iter(f"{SVG}g") if g.get("data-step") == "board")
    branches = [g for g in board.iter(f"{SVG}g") if g.get("class") == "branch"]
    tops = {b.find(f"{SVG}rect").get("y") for b in branches}
    lefts = [float(b.find(f"{SVG}rect").get("x")) for b in branches]
    assert len(branches) == 3
    assert len(tops) == 1 and lefts == sorted(lefts)  # one row, left to right
    assert "quorum majority (2 of 3)" in texts(svg)


def test_action_steps_are_terminal_shapes():
    root = parse(render_svg(nasty_recipe()))

    small = next(g for g in root.iter(f"{SVG}g") if g.get("data-step") == "small")
    rect = small.find(f"{SVG}rect")
    assert float(rect.get("rx")) * 2 == float(rect.get("height"))  # a stadium


def test_xml_invalid_control_characters_are_dropped():
    recipe = Recipe(workflow="x", title="bell\x07 tab\x0b", steps=(
        Step(id="a", kind="approval", branches=(manager_ref(),)),
    ))  # fmt: skip

    parse(render_svg(recipe))


@pytest.mark.django_db
def test_request_progress_colours_done_current_and_skipped(requester, manager, grandboss, now):
    recipe = nasty_recipe()
    workflow = make_workflow("po", "Orders")
    req = make_request(workflow, requester, created=now - hours(5))
    make_task(
        req, "manager", manager, created=now - hours(5), state="escalated", decided=now - hours(4)
    )
    make_task(
        req, "manager", grandboss, created=now - hours(4), state="approved", decided=now - hours(3)
    )
    make_task(
        req, "board", grandboss, created=now - hours(3), state="approved", decided=now - hours(2)
    )
    make_task(req, "board", manager, created=now - hours(3), due=now + timedelta(days=1))
    type(req).objects.filter(pk=req.pk).update(current_step="board")
    req.refresh_from_db()

    progress = progress_of(recipe, req)
    svg = render_svg(recipe, request=req)

    assert {k: p.status for k, p in progress.items()} == {
        "small": "skipped",
        "manager": "approved",
        "board": "current",
    }
    root = parse(svg)
    classes = {
        g.get("data-step"): g.get("class") for g in root.iter(f"{SVG}g") if g.get("data-step")
    }
    assert "status-skipped" in classes["small"]
    assert "status-approved" in classes["manager"]
    assert "status-current" in classes["board"]
    chips = [g.get("class") for g in root.iter(f"{SVG}g") if "task-" in (g.get("class") or "")]
    assert chips == [
        "task task-escalated",
        "task task-approved",
        "task task-approved",
        "task task-open",
    ]
    assert "grandboss for" not in texts(svg)  # no on_behalf_of was recorded
    assert f"request #{req.pk}" in texts(svg)


@pytest.mark.django_db
def test_a_rejected_request_marks_the_rest_not_reached(requester, manager, now):
    recipe = Recipe(workflow="po", title="Orders", steps=(
        Step(id="manager", kind="approval", branches=(manager_ref(),)),
        Step(id="finance", kind="approval", branches=(manager_ref(),)),
    ))  # fmt: skip
    req = make_request(
        make_workflow("po", "Orders"),
        requester,
        created=now - hours(2),
        state="rejected",
        decided=now,
    )
    make_task(req, "manager", manager, created=now - hours(2), state="rejected", decided=now)

    progress = progress_of(recipe, req)

    assert progress["manager"].status == "rejected"
    assert progress["finance"].status == "not_reached"


@pytest.mark.django_db
def test_an_approved_request_ending_early_skipped_the_rest(requester, manager, now):
    recipe = Recipe(workflow="po", title="Orders", steps=(
        Step(id="manager", kind="approval", branches=(manager_ref(),)),
        Step(id="finance", kind="approval", when="amount > 5000", branches=(manager_ref(),)),
    ))  # fmt: skip
    req = make_request(
        make_workflow("po", "Orders"),
        requester,
        created=now - hours(2),
        state="approved",
        decided=now,
    )
    make_task(req, "manager", manager, created=now - hours(2), state="approved", decided=now)

    progress = progress_of(recipe, req)

    assert progress["finance"].status == "skipped"
