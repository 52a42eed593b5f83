"""Who is an auditor, and the hook that limits everyone else's view.

Auditors (members of the ``auditors`` role, holders of ``audit.view_auditevent``,
superusers) see every event. Everyone else sees what
``settings.AUDIT_VISIBILITY`` lets through: audit cannot know who took part in
a request, so the approvals app provides that filter.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.db.models import QuerySet
from django.utils.module_loading import import_string

AUDITORS_ROLE = "auditors"

Q = TypeVar("Q", bound=QuerySet)


def is_auditor(person: Any) -> bool:
    """Members of the ``auditors`` role, holders of ``audit.view_auditevent``, superusers."""
    if person is None or not getattr(person, "is_authenticated", False):
        return False
    if not person.is_active:
        return False
    cached = getattr(person, "_audit_is_auditor", None)
    if cached is None:
        # Cached on the user object: one answer per web request, however many reads ask.
        roles = getattr(person, "roles", None)
        cached = bool(
            person.is_superuser
            or person.has_perm("audit.view_auditevent")
            or (roles is not None and roles.filter(name=AUDITORS_ROLE).exists())
        )
        person._audit_is_auditor = cached
    return cached


def restrict_to_visible(person: Any, queryset: Q) -> Q:
    """The rows of ``queryset`` (AuditEvent or ArchivedEvent) ``person`` may see."""
    if is_auditor(person):
        return queryset
    if person is None or not getattr(person, "is_authenticated", False) or not person.is_active:
        return queryset.none()
    visible = import_string(settings.AUDIT_VISIBILITY)
    return visible(person, queryset)
