"""Named refusals of the org chart's services.

The org chart does not depend on the engine, so it has its own small error
vocabulary; every interface maps it the same way (the API: 400 with field
errors, commands: exit 1 with the located messages, the admin: form errors).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrgFault:
    """One located problem in an org file: the line (or CSV row line), where in
    the file (``people[3] (dave)``), and what is wrong."""

    message: str
    line: int | None = None
    where: str = ""

    def __str__(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.where:
            parts.append(self.where)
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class OrgChartError(Exception):
    """Bad input to an org-chart service. Nothing was written.

    ``errors`` maps field names to messages (for API field errors and admin forms);
    ``faults`` lists located problems of an org file.
    """

    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        faults: list[OrgFault] | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.faults = faults or []
        if code:
            self.code = code


class NotAllowed(OrgChartError):
    """The actor may not change this object (someone else's absence)."""

    status = 403
    code = "not_allowed"
