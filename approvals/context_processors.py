"""What the page header needs to know about the person looking at it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from approvals.selectors import header_flags


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    flags = header_flags(user)
    return {"nav_can_audit": flags.can_audit, "nav_can_report": flags.can_report}
