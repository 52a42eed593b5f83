"""Named domain errors. Services raise them; every interface maps them the same way
(the API: ``status`` with ``{"detail", "code"}``; pages: a message; commands: exit 1)."""

from __future__ import annotations

from approvals.recipes.schema import Fault


class ApprovalError(Exception):
    """Base of every refusal by the engine. Nothing was written."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, faults: list[Fault] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.faults = faults or []


class InvalidInput(ApprovalError):
    """Bad input from outside: a recipe, request inputs, a missing comment."""

    status = 400
    code = "invalid"


class NotAllowed(ApprovalError):
    """The actor may see the object but may not take this action on it."""

    status = 403
    code = "not_allowed"


class NotFound(ApprovalError):
    """No such object, or one the actor may not know exists."""

    status = 404
    code = "not_found"


class Conflict(ApprovalError):
    """The state moved on: task already decided, request no longer pending, quorum closed."""

    status = 409
    code = "conflict"
