"""What the page header needs to know about the person looking at it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from approvals.selectors import is_auditor, is_author


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    auditor = is_auditor(user)
    return {"nav_can_audit": auditor, "nav_can_report": auditor or is_author(user)}
