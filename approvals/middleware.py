"""Content-Security-Policy for every page: our own scripts and styles only.

The pages carry no inline script or style, so a strict policy costs nothing
and stops an injected ``<script>`` from running. The Django admin and the
API docs (Swagger UI) ship inline scripts and styles, so they get a looser
policy that still allows nothing from other origins.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

STRICT = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'"
)
LOOSE = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)
LOOSE_PREFIXES = ("/admin/", "/api/v1/docs/")


class ContentSecurityPolicyMiddleware:
    """Sets ``Content-Security-Policy`` unless a view already chose one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            loose = request.path.startswith(LOOSE_PREFIXES)
            response["Content-Security-Policy"] = LOOSE if loose else STRICT
        return response
