"""What the page header needs to know about the person looking at it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from approvals.notifications.links import reversed_once
from approvals.selectors import header_flags

# The header's links, by the name base.html uses ({{ nav.inbox }}).
_LINKS = {
    "inbox": "approvals:inbox",
    "choose": "approvals:choose",
    "requests": "approvals:requests",
    "audit": "audit:events",
    "out_of_office": "orgchart:out_of_office",
    "logout": "logout",
}


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    flags = header_flags(user)
    return {
        "nav_can_audit": flags.can_audit,
        "nav_can_report": flags.can_report,
        "nav": header_links(),
    }


def header_links() -> dict[str, str]:
    """``_LINKS`` reversed once per process (and URLconf, script prefix and language,
    which reverse() depends on): every page shows them, and {% url %} cost ~0.3 ms of
    CPU a page for these six."""
    return reversed_once(
        "header", lambda: {name: reverse(view) for name, view in _LINKS.items()}
    )
