"""Approver resolution: from a reference in a recipe to the people who act.
(Interface; being implemented.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .models import Person


class Reference(Protocol):
    """What a recipe's approver reference carries (approvals.recipes.ApproverRef)."""

    kind: str  # requester_manager | approver_manager | input | user | role
    value: str
    depth: int
    raw: str


@dataclass(frozen=True)
class Assignment:
    assignee: Person
    meant_for: Person
    chain: tuple[str, ...]  # usernames from meant_for to assignee
    role: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def on_behalf_of(self) -> Person | None:
        return None if self.meant_for.pk == self.assignee.pk else self.meant_for


class ResolutionError(Exception):
    code = "resolution_error"

    def __init__(self, message: str, *, chain: tuple[str, ...] = ()):
        self.chain = chain
        super().__init__(message)


class NoApprover(ResolutionError):
    code = "no_approver"


class DelegationCycle(ResolutionError):
    code = "delegation_cycle"


class DelegationTooDeep(ResolutionError):
    code = "delegation_too_deep"


def resolve(
    ref: Reference,
    *,
    requester: Person,
    inputs: Mapping[str, Any] | None = None,
    approver: Person | None = None,
    every_member: bool = False,
    workflow_key: str = "",
    at: datetime | None = None,
    advance: bool = True,
) -> list[Assignment]:
    raise NotImplementedError


def resolve_fallback(
    role_name: str, *, requester: Person, workflow_key: str = "", at: datetime | None = None,
    advance: bool = True,
) -> Assignment:
    raise NotImplementedError
