"""Which audit events a person may see (``settings.AUDIT_VISIBILITY``).

It lives in approvals because it needs requests and workflows; the audit app
loads it by its dotted path and never imports approvals.

Public workflows' events are visible to every employee. A restricted workflow
version's events are visible to the request's participants (requester,
assignees, the people tasks were meant for, deciders), the version's ``viewers``
roles and auditors. The rule is one queryset filter (an EXISTS on the version
and IN subqueries on participation), so it costs the same for ten events or ten
million; the only Python loop is over restricted workflow versions.
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Exists, OuterRef, Q, QuerySet

from approvals.models import Decision, Request, Task, WorkflowVersion
from audit.choices import ARCHIVE_CHAIN
from audit.permissions import is_auditor
from orgchart.models import Person

QS = TypeVar("QS", bound=QuerySet)


def participant_request_ids(person: Person) -> Q:
    """Events of requests the person took part in (three indexed IN subqueries)."""
    as_requester = Request.objects.filter(requester=person).values("pk")
    as_assignee = Task.objects.filter(Q(assignee=person) | Q(on_behalf_of=person)).values(
        "request_id"
    )
    as_decider = Decision.objects.filter(Q(decided_by=person) | Q(on_behalf_of=person)).values(
        "request_id"
    )
    return (
        Q(request_id__in=as_requester)
        | Q(request_id__in=as_assignee)
        | Q(request_id__in=as_decider)
    )


def hidden_versions(person: Person) -> QuerySet[WorkflowVersion]:
    """Restricted workflow versions none of whose viewer roles the person holds."""
    restricted = WorkflowVersion.objects.filter(restricted=True)
    viewing = getattr(person, "_audit_viewing_versions", None)
    if viewing is None:
        # Cached on the user object, so both tiers of one query share the answer.
        roles = set(person.roles.values_list("name", flat=True))
        viewing = [v.pk for v in restricted.only("pk", "viewers") if roles & set(v.viewers or ())]
        person._audit_viewing_versions = viewing
    return restricted.exclude(pk__in=viewing)


def visible_events(person: Person, queryset: QS) -> QS:
    """Narrow an AuditEvent or ArchivedEvent queryset to what ``person`` may see."""
    if is_auditor(person):
        return queryset
    hidden = Exists(
        hidden_versions(person).filter(
            workflow__key=OuterRef("workflow_key"), number=OuterRef("workflow_version")
        )
    )
    own = Q(actor_username=person.username) | Q(on_behalf_of_username=person.username)
    return queryset.exclude(chain=ARCHIVE_CHAIN).filter(
        ~hidden | participant_request_ids(person) | own
    )
