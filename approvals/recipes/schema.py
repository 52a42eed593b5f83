"""The typed form of a recipe (RECIPES.md), produced by the parser.

A recipe is parsed once per workflow version and cached; the engine reads
only these objects, never the raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

InputType = Literal[
    "string", "text", "integer", "number", "money", "boolean", "date", "choice", "user"
]
RefKind = Literal["requester_manager", "approver_manager", "input", "user", "role"]
StepKind = Literal["action", "approval", "parallel"]
Outcome = Literal["approve", "reject"]
AutoAction = Literal["approve", "reject", "expire"]


@dataclass(frozen=True)
class ApproverRef:
    """One approver reference.

    - ``requester_manager`` with ``depth`` n: ``{{ requester.manager.manager }}`` is depth 2;
    - ``approver_manager`` with ``depth`` n: inside ``escalate_to``;
    - ``input``: ``{{ inputs.FIELD }}``, ``value`` is the field;
    - ``user``: ``user:USERNAME``, ``value`` is the username;
    - ``role``: a bare name or ``role:NAME``, ``value`` is the role name.
    """

    kind: RefKind
    raw: str
    value: str = ""
    depth: int = 0


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: InputType
    required: bool = False
    min: float | int | None = None
    max: float | int | None = None
    max_length: int | None = None
    label: str = ""
    help: str = ""
    default: Any = None
    options: tuple[str, ...] = ()

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class SLA:
    """Deadlines of a step, as shares of ``due`` (1.0 = 100%).

    Every share is measured from the moment the step's first tasks were created.
    """

    due: timedelta
    remind_at: float | None = 0.75
    escalate_at: float | None = 1.0
    escalate_to: ApproverRef | None = None  # None means {{ approver.manager }}
    auto_action_at: float | None = None
    auto_action: AutoAction | None = None

    def offset(self, share: float | None) -> timedelta | None:
        return None if share is None else self.due * share


@dataclass(frozen=True)
class Quorum:
    """``all``, ``any``, ``majority`` or a whole number. One rule for all of them."""

    kind: Literal["all", "any", "majority", "number"] = "any"
    number: int = 0

    def needed(self, n: int) -> int:
        """How many approvals close the step as approved, out of n tasks."""
        if self.kind == "all":
            return n
        if self.kind == "any":
            return min(1, n)
        if self.kind == "majority":
            return n // 2 + 1
        return min(self.number, n)

    def __str__(self) -> str:
        return str(self.number) if self.kind == "number" else self.kind


@dataclass(frozen=True)
class Step:
    id: str
    kind: StepKind
    when: str | None = None
    # action steps
    action: Outcome | None = None
    # approval steps: one ref; parallel steps with branches: one ref per branch
    branches: tuple[ApproverRef, ...] = ()
    # parallel steps with ``approvers: ROLE``: every member of the role gets a task
    approvers: ApproverRef | None = None
    quorum: Quorum = field(default_factory=Quorum)
    sla: SLA | None = None
    line: int | None = None


@dataclass(frozen=True)
class Recipe:
    workflow: str
    title: str
    steps: tuple[Step, ...]
    description: str = ""
    inputs: tuple[InputSpec, ...] = ()
    visibility: Literal["public", "restricted"] = "public"
    viewers: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    fallback_role: str = "approval-admins"

    def input(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def step_index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)


@dataclass(frozen=True)
class Fault:
    """One located fault in a recipe or an input: ``steps[2].quorum``, line 14."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.line:
            data["line"] = self.line
        return data


class RecipeError(Exception):
    """A recipe that may not be published, with every fault found."""

    def __init__(self, faults: list[Fault]):
        self.faults = faults
        super().__init__("; ".join(str(f) for f in faults))
