"""Permission classes: thin wrappers over the selectors shared with the pages."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from approvals import selectors

SUBMIT_ON_BEHALF = "approvals_api.submit_on_behalf"


class IsAuthor(BasePermission):
    """Workflow authors (``approvals.add_workflowversion``): publish, simulate."""

    message = "Only workflow authors (approvals.add_workflowversion) may do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return selectors.is_author(request.user)


class IsAuthorOrReadOnly(IsAuthor):
    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)


def may_submit_on_behalf(person: Any) -> bool:
    """Only a service account holding the explicit permission may name another requester."""
    return bool(person.is_service_account and person.has_perm(SUBMIT_ON_BEHALF))
