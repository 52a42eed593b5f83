"""CEL ``when`` conditions. (Interface; being implemented.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .schema import Recipe, Step


@dataclass(frozen=True)
class WhenResult:
    value: bool
    # The names the expression referenced, with the values it saw (for the audit trail).
    seen: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def evaluate_when(
    step: Step,
    *,
    recipe: Recipe,
    inputs: dict[str, Any],
    requester: dict[str, Any],
    now: datetime,
) -> WhenResult:
    raise NotImplementedError
