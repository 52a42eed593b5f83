"""Parsing and checking the ``steps`` of a recipe (RECIPES.md, "Steps")."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from .conditions import check_when
from .durations import format_share, parse_duration, parse_share
from .refs import parse_ref
from .schema import SLA, ApproverRef, InputSpec, Quorum, Step
from .validation import Context, type_name

STEP_KEYS = (
    "id", "when", "action", "approver", "type", "branches", "approvers", "quorum",
    "timeout", "on_timeout", "sla",
)  # fmt: skip
BRANCH_KEYS = ("approver",)
SLA_KEYS = ("due", "remind_at", "escalate_at", "escalate_to", "auto_action_at", "auto_action")
ON_TIMEOUT = ("remind", "escalate", "approve", "reject", "expire")
AUTO_ACTIONS = ("approve", "reject", "expire")
STEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def parse_steps(
    ctx: Context, raw: Any, specs: Sequence[InputSpec], declared: set[str]
) -> list[Step]:
    """Every step, or faults. ``specs`` are the inputs that parsed; ``declared``
    every input name written (a faulty input must not also fault its ``when``s)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        ctx.fault("steps", f"steps must be a list of steps, not {type_name(raw)}")
        return []
    if not raw:
        ctx.fault("steps", "a workflow needs at least one step")
        return []
    steps: list[Step] = []
    first_seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        path = f"steps[{index}]"
        step_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(step_id, str) and step_id in first_seen:
            ctx.fault(
                f"{path}.id",
                f"two steps have the id {step_id!r} (steps[{first_seen[step_id]}] too)",
            )
        elif isinstance(step_id, str):
            first_seen[step_id] = index
        step = _parse_step(ctx, item, path, specs, declared)
        if step is None:
            continue
        steps.append(step)
        unconditional = step.when is None and item.get("when") is None  # not a faulty when
        if step.kind == "action" and unconditional and index < len(raw) - 1:
            ctx.fault(
                f"{path}.action",
                "an action step without `when` ends every request, so the steps "
                "after it could never run: give it a `when` or make it the last step",
            )
    return steps


def _parse_step(
    ctx: Context, item: Any, path: str, specs: Sequence[InputSpec], declared: set[str]
) -> Step | None:
    if not isinstance(item, dict):
        ctx.fault(path, f"a step must be a mapping, not {type_name(item)}")
        return None
    ctx.check_keys(item, path, allowed=STEP_KEYS, required=("id",), what="a step")
    step_id = ctx.string(item, "id", path, nonempty=True)
    if step_id is not None and not STEP_ID.fullmatch(step_id):
        ctx.fault(f"{path}.id", f"{step_id!r} is not a step id (letters, digits, _ and -)")
    when = _parse_when(ctx, item, path, specs, declared)

    kinds = [k for k in ("action", "approver", "type") if k in item]
    if not kinds:
        ctx.fault(path, "a step needs one of `action`, `approver` or `type: parallel`")
        return None
    if len(kinds) > 1:
        ctx.fault(
            f"{path}.{kinds[1]}",
            f"a step is one kind only: it has both `{kinds[0]}` and `{kinds[1]}`",
        )
        return None
    kind = kinds[0]
    if kind != "type":
        for key in ("branches", "approvers"):
            if key in item:
                ctx.fault(f"{path}.{key}", f"`{key}` belongs to a step with `type: parallel`")
        if "quorum" in item:
            ctx.fault(f"{path}.quorum", "`quorum` belongs to a step with `type: parallel`")

    line = ctx.loaded.lines.get(path)
    base = {"id": step_id or "", "when": when, "line": line}
    if kind == "action":
        action = item["action"]
        if action not in ("approve", "reject"):
            ctx.fault(f"{path}.action", f"action must be approve or reject, not {action!r}")
            return None
        for key in ("timeout", "on_timeout", "sla"):
            if key in item:
                ctx.fault(f"{path}.{key}", "an action step has no tasks, so no deadline")
        return Step(kind="action", action=action, **base)

    sla = _parse_deadline(ctx, item, path, specs)
    if kind == "approver":
        ref = _parse_approver(ctx, item.get("approver"), f"{path}.approver", specs)
        if ref is None:
            return None
        return Step(kind="approval", branches=(ref,), quorum=Quorum("any"), sla=sla, **base)
    return _parse_parallel(ctx, item, path, specs, sla, base)


def _parse_when(
    ctx: Context, item: dict[str, Any], path: str, specs: Sequence[InputSpec], declared: set[str]
) -> str | None:
    if "when" not in item or item["when"] is None:
        return None
    when = item["when"]
    if isinstance(when, bool):  # `when: true` in YAML is a boolean, not the word
        when = "true" if when else "false"
    if not isinstance(when, str) or not when.strip():
        ctx.fault(f"{path}.when", "when must be a CEL expression (a string)")
        return None
    when = when.strip()
    for problem in check_when(when, specs, declared=declared, try_samples=not ctx.published):
        ctx.fault(f"{path}.when", f"when {problem}")
    return when


def _parse_approver(
    ctx: Context, value: Any, path: str, specs: Sequence[InputSpec], *, escalation: bool = False
) -> ApproverRef | None:
    try:
        ref = parse_ref(value, in_escalation=escalation)
    except ValueError as exc:
        ctx.fault(path, str(exc))
        return None
    if ref.kind == "role":
        ctx.check_role(ref.value, path)
    elif ref.kind == "input":
        spec = next((s for s in specs if s.name == ref.value), None)
        if spec is None:
            ctx.fault(path, f"{ref.raw!r} names no input of this workflow")
        elif spec.type != "user":
            ctx.fault(path, f"{ref.raw!r}: input {ref.value!r} is of type {spec.type}, not user")
    return ref


def _parse_parallel(
    ctx: Context,
    item: dict[str, Any],
    path: str,
    specs: Sequence[InputSpec],
    sla: SLA | None,
    base: dict[str, Any],
) -> Step | None:
    if item["type"] != "parallel":
        ctx.fault(f"{path}.type", f"the only step type is parallel, not {item['type']!r}")
        return None
    has_branches, has_approvers = "branches" in item, "approvers" in item
    if has_branches == has_approvers:
        ctx.fault(
            path,
            "a parallel step needs either `branches` or `approvers: ROLE`"
            + (", not both" if has_branches else ""),
        )
        return None
    branches: list[ApproverRef] = []
    approvers: ApproverRef | None = None
    size: int | None = None
    ok = True
    if has_branches:
        raw = item["branches"]
        if not isinstance(raw, list) or not raw:
            ctx.fault(f"{path}.branches", "branches must be a non-empty list of {approver: REF}")
            return None
        for index, branch in enumerate(raw):
            where = f"{path}.branches[{index}]"
            if not isinstance(branch, dict):
                ctx.fault(where, "a branch must be a mapping such as {approver: REF}")
                ok = False
                continue
            ctx.check_keys(
                branch, where, allowed=BRANCH_KEYS, required=BRANCH_KEYS, what="a branch"
            )
            if "approver" in branch:
                ref = _parse_approver(ctx, branch["approver"], f"{where}.approver", specs)
                if ref is not None:
                    branches.append(ref)
                    continue
            ok = False
        size = len(raw)
    else:
        approvers = _parse_approver(ctx, item["approvers"], f"{path}.approvers", specs)
        if approvers is None:
            return None
        if approvers.kind != "role":
            ctx.fault(
                f"{path}.approvers",
                "approvers must name a role (every member gets a task); "
                "for people or managers use branches",
            )
            return None
        size = ctx.role_size(approvers.value)
    quorum = _parse_quorum(ctx, item.get("quorum", "all"), f"{path}.quorum", size)
    if not ok or quorum is None:
        return None
    return Step(
        kind="parallel",
        branches=tuple(branches),
        approvers=approvers,
        quorum=quorum,
        sla=sla,
        **base,
    )


def _parse_quorum(ctx: Context, raw: Any, path: str, size: int | None) -> Quorum | None:
    if isinstance(raw, str) and raw.strip() in ("all", "any", "majority"):
        return Quorum(raw.strip())  # type: ignore[arg-type]
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int) or isinstance(raw, bool):
        ctx.fault(path, f"quorum must be all, any, majority or a whole number, not {raw!r}")
        return None
    if raw < 1:
        ctx.fault(path, f"a quorum of {raw} could never close the step: it must be at least 1")
        return None
    if size is not None and raw > size:
        ctx.fault(path, f"a quorum of {raw} can never be reached with {size} possible approvers")
        return None
    return Quorum("number", raw)


def _parse_deadline(
    ctx: Context, item: dict[str, Any], path: str, specs: Sequence[InputSpec]
) -> SLA | None:
    has_short = "timeout" in item or "on_timeout" in item
    if has_short and "sla" in item:
        ctx.fault(f"{path}.sla", "write either `timeout`/`on_timeout` or an `sla` block, not both")
        return None
    if "sla" in item:
        return _parse_sla(ctx, item["sla"], f"{path}.sla", specs)
    if not has_short:
        return None
    if "timeout" not in item:
        ctx.fault(f"{path}.on_timeout", "on_timeout needs a `timeout`")
        return None
    due = _duration(ctx, item["timeout"], f"{path}.timeout")
    on_timeout = item.get("on_timeout")
    if on_timeout not in ON_TIMEOUT:
        where = f"{path}.on_timeout"
        if "on_timeout" not in item:
            ctx.fault(f"{path}.timeout", f"timeout needs an on_timeout ({' | '.join(ON_TIMEOUT)})")
        else:
            ctx.fault(
                where, f"on_timeout must be one of {', '.join(ON_TIMEOUT)}, not {on_timeout!r}"
            )
        return None
    if due is None:
        return None
    if on_timeout == "escalate":
        return SLA(due=due, remind_at=0.75, escalate_at=1.0)
    if on_timeout == "remind":
        return SLA(due=due, remind_at=1.0, escalate_at=None)
    return SLA(
        due=due, remind_at=0.75, escalate_at=None, auto_action_at=1.0, auto_action=on_timeout
    )


def _duration(ctx: Context, raw: Any, path: str) -> Any:
    try:
        return parse_duration(raw)
    except ValueError as exc:
        ctx.fault(path, str(exc))
        return None


def _parse_sla(ctx: Context, raw: Any, path: str, specs: Sequence[InputSpec]) -> SLA | None:
    if not isinstance(raw, dict):
        ctx.fault(path, f"sla must be a mapping, not {type_name(raw)}")
        return None
    ctx.check_keys(raw, path, allowed=SLA_KEYS, required=("due",), what="an sla")
    ok = "due" in raw
    due = _duration(ctx, raw["due"], f"{path}.due") if "due" in raw else None
    ok = ok and due is not None
    shares: dict[str, float | None] = {}
    for key in ("remind_at", "escalate_at", "auto_action_at"):
        if key in raw and raw[key] is not None:  # an explicit null turns that stage off
            try:
                shares[key] = parse_share(raw[key])
            except ValueError as exc:
                ctx.fault(f"{path}.{key}", str(exc))
                ok = False
        elif key in raw:
            shares[key] = None
    auto_action = raw.get("auto_action")
    if auto_action is not None and auto_action not in AUTO_ACTIONS:
        ctx.fault(
            f"{path}.auto_action",
            f"auto_action must be approve, reject or expire, not {auto_action!r}",
        )
        ok = False
    if (shares.get("auto_action_at") is None) != (auto_action is None):
        missing = "auto_action" if auto_action is None else "auto_action_at"
        present = "auto_action_at" if auto_action is None else "auto_action"
        ctx.fault(f"{path}.{present}", f"{present} needs {missing}")
        ok = False
    escalate_to = None
    if raw.get("escalate_to") is not None:
        escalate_to = _parse_approver(
            ctx, raw["escalate_to"], f"{path}.escalate_to", specs, escalation=True
        )
        ok = ok and escalate_to is not None
        if escalate_to and escalate_to.kind == "approver_manager" and escalate_to.depth == 1:
            escalate_to = None  # the default, written out; one form for the content hash
    if not ok:
        return None
    stages = _order_stages(ctx, path, shares)
    if stages is None:
        return None
    return SLA(
        due=due,
        remind_at=stages["remind_at"],
        escalate_at=stages["escalate_at"],
        escalate_to=escalate_to,
        auto_action_at=stages["auto_action_at"],
        auto_action=auto_action,
    )


def _order_stages(
    ctx: Context, path: str, shares: dict[str, float | None]
) -> dict[str, Any] | None:
    """Apply the defaults (remind 75%, escalate 100%) and check remind < escalate <
    auto action. A default that would not come strictly before the next stage the
    author wrote is dropped (``auto_action_at: 100%`` alone means no escalation);
    explicit values that clash are the author's fault."""
    defaults = {"remind_at": 0.75, "escalate_at": 1.0, "auto_action_at": None}
    order = ("remind_at", "escalate_at", "auto_action_at")
    stages: dict[str, Any] = {}
    for index, key in reversed(list(enumerate(order))):
        if key in shares:
            stages[key] = shares[key]
            continue
        default = defaults[key]
        later = [stages[k] for k in order[index + 1 :] if stages.get(k) is not None]
        stages[key] = default if default is not None and all(default < v for v in later) else None
    present = [(k, stages[k]) for k in order if stages[k] is not None]
    for (before, first), (after, second) in itertools.pairwise(present):
        if not first < second:
            ctx.fault(
                f"{path}.{after}",
                f"{after} ({format_share(second)}) must come after "
                f"{before} ({format_share(first)})",
            )
            return None
    return stages
