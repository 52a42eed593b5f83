"""Reads: who may see what, and the lists people look at.

No view, API view or page builds a permission filter inline: they call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.timesince import timeuntil

from approvals.choices import RequestState, TaskState
from approvals.errors import NotFound
from approvals.models import Request, Task, Workflow, WorkflowVersion
from audit.permissions import AUDITORS_ROLE
from audit.permissions import is_auditor as audit_is_auditor
from config.prepared import Prepared
from orgchart.models import Person


def is_auditor(person: Person) -> bool:
    """Members of the ``auditors`` role, holders of ``audit.view_auditevent``, superusers
    (the audit app's rule, cached per request on the user)."""
    return audit_is_auditor(person)


def is_author(person: Person) -> bool:
    """Holders of ``approvals.add_workflowversion`` (publish, simulate)."""
    return bool(person.is_authenticated and person.has_perm("approvals.add_workflowversion"))


# (app label, codename) of the permissions the header asks about.
_AUDIT_PERM = ("audit", "view_auditevent")
_AUTHOR_PERM = ("approvals", "add_workflowversion")


@dataclass(frozen=True)
class HeaderFlags:
    """Which links the page header shows."""

    can_audit: bool
    can_report: bool


_MODEL_BACKEND_ONLY = ["django.contrib.auth.backends.ModelBackend"]


def header_flags(person: Person) -> HeaderFlags:
    """``is_auditor`` and ``is_author`` for the page header, in one small query.

    ``has_perm`` loads every permission the person and their groups hold (two queries
    and a set of names built in Python), then ``is_auditor`` asks for the role: about
    3 ms of CPU on every page for two yes/no answers. This asks the same tables only
    about the two permissions and the role, so the answer is always current (no
    cache to invalidate). With an authentication backend other than ``ModelBackend``
    it asks ``has_perm`` like everything else does. The answer is kept where
    ``audit.permissions.is_auditor`` looks, so the request's other reads don't ask again.
    """
    if not person.is_authenticated or not person.is_active:
        return HeaderFlags(can_audit=False, can_report=False)
    if person.is_superuser or settings.AUTHENTICATION_BACKENDS != _MODEL_BACKEND_ONLY:
        auditor = is_auditor(person)
        return HeaderFlags(can_audit=auditor, can_report=auditor or is_author(person))
    with connection.cursor() as cursor:
        cursor.execute(_HEADER_FLAGS_SQL, [
            *_AUDIT_PERM, *_AUTHOR_PERM, person.pk, person.pk, person.pk, AUDITORS_ROLE,
        ])
        held = {row[0] for row in cursor.fetchall()}
    auditor = "role" in held or "perm:audit.view_auditevent" in held
    person._audit_is_auditor = auditor  # the cache audit.permissions.is_auditor reads
    return HeaderFlags(
        can_audit=auditor, can_report=auditor or "perm:approvals.add_workflowversion" in held
    )


# Which of the two permissions the person holds (as "perm:app.codename"), directly or
# through a group, and "role" if they are in the auditors role: plain joins on small
# tables. (An earlier single query of five EXISTS, ORed joins built by the ORM, took
# 3.4 ms to plan at full scale.) The tables are Django's auth tables and orgchart's.
_HEADER_FLAGS_SQL = """
    SELECT 'perm:' || ct.app_label || '.' || p.codename
    FROM auth_permission p
    JOIN django_content_type ct ON ct.id = p.content_type_id
    WHERE ((ct.app_label = %s AND p.codename = %s) OR (ct.app_label = %s AND p.codename = %s))
      AND (p.id IN (SELECT permission_id FROM orgchart_person_user_permissions
                    WHERE person_id = %s)
           OR p.id IN (SELECT gp.permission_id
                       FROM auth_group_permissions gp
                       JOIN orgchart_person_groups pg ON pg.group_id = gp.group_id
                       WHERE pg.person_id = %s))
    UNION ALL
    SELECT 'role' FROM orgchart_rolemembership m
    JOIN orgchart_role r ON r.id = m.role_id
    WHERE m.person_id = %s AND r.name = %s
"""


def _viewable_version_ids(person: Person) -> QuerySet[WorkflowVersion]:
    """Restricted versions whose ``viewers`` roles include one of the person's roles."""
    roles = list(person.roles.values_list("name", flat=True))
    if not roles:
        return WorkflowVersion.objects.none().values("pk")
    query = Q()
    for role in roles:
        query |= Q(viewers__contains=[role]) if _json_contains_supported() else Q(
            viewers__icontains=f'"{role}"'
        )
    return WorkflowVersion.objects.filter(restricted=True).filter(query).values("pk")


def _json_contains_supported() -> bool:
    from django.db import connection

    return connection.features.supports_json_field_contains


def participates(person: Person) -> Q:
    """Requests the person takes part in: as requester, the service account that
    submitted for them, assignee, or on whose behalf a task was (deciders are always
    assignees)."""
    tasks = Task.objects.filter(request=OuterRef("pk")).filter(
        Q(assignee=person) | Q(on_behalf_of=person)
    )
    return Q(requester=person) | Q(submitted_by=person) | Q(Exists(tasks))


def requests_visible_to(person: Person) -> QuerySet[Request]:
    """Public workflows' requests for every employee; restricted ones for their
    participants, the workflow's viewer roles and auditors."""
    if not person.is_authenticated or not person.is_active:
        return Request.objects.none()
    requests = Request.objects.all()
    if is_auditor(person):
        return requests
    return requests.filter(
        Q(workflow_version__restricted=False)
        | participates(person)
        | Q(workflow_version__in=_viewable_version_ids(person))
    )


def request_for(person: Person, request_id: object) -> Request:
    """One request the person may see, or NotFound (also for ids that are not ids)."""
    try:
        pk = int(str(request_id))
    except (TypeError, ValueError):
        raise NotFound("No such request.") from None
    request = (
        requests_visible_to(person)
        .select_related("workflow", "workflow_version", "requester", "submitted_by")
        .filter(pk=pk)
        .first()
    )
    if request is None:
        raise NotFound("No such request.")
    return request


def inbox_for(person: Person) -> QuerySet[Task]:
    """The person's open tasks, oldest due first (no due date last), with request,
    workflow, requester and on-behalf-of joined: one query on the task_inbox index
    whatever the count."""
    return (
        Task.objects.filter(assignee=person, state=TaskState.OPEN)
        .select_related(
            "request", "request__workflow", "request__requester", "on_behalf_of"
        )
        .order_by(F("due_at").asc(nulls_last=True), "created_at", "pk")
    )


@dataclass(frozen=True)
class InboxWorkflow:
    """One workflow of a person's open tasks, and how many of them are due when."""

    key: str
    title: str
    open: int
    due_soon: int  # due before the ``soon`` given, overdue ones included
    overdue: int


def inbox_workflows(person: Person, now: datetime, soon: datetime) -> list[InboxWorkflow]:
    """The workflows the person has open tasks in, by title, with their counts: one
    grouped query on the task_inbox index gives the inbox both its filter's choices
    (what can match, not every workflow of the company) and its totals."""
    groups = _INBOX_WORKFLOWS.rows(None, person_id=person.pk, now=now, soon=soon)
    return [
        InboxWorkflow(
            key=g["request__workflow__key"], title=g["request__workflow__title"],
            open=g["open"], due_soon=g["due_soon"], overdue=g["overdue"],
        )
        for g in groups
    ]


def _inbox_workflows_query(
    shape: None, *, person_id: int, now: datetime, soon: datetime
) -> QuerySet[Task]:
    return (
        Task.objects.filter(assignee_id=person_id, state=TaskState.OPEN)
        .values("request__workflow__key", "request__workflow__title")
        .annotate(
            open=Count("pk"),
            due_soon=Count("pk", filter=Q(due_at__lt=soon)),
            overdue=Count("pk", filter=Q(due_at__lt=now)),
        )
        .order_by("request__workflow__title", "request__workflow__key")
    )


# Compiled once per process: every inbox page asks it (config/prepared.py).
_INBOX_WORKFLOWS = Prepared(_inbox_workflows_query)


def tasks_visible_to(person: Person) -> QuerySet[Task]:
    """Tasks of requests the person may see."""
    return Task.objects.filter(request__in=requests_visible_to(person).values("pk"))


def workflows_available_to(person: Person) -> QuerySet[Workflow]:
    """Active, published workflows the person may submit (every employee may submit
    any of them; restriction is about who sees the requests)."""
    if not person.is_authenticated or not person.is_active or person.is_service_account:
        return Workflow.objects.none()
    return (
        Workflow.objects.filter(is_active=True, latest_version__isnull=False)
        .select_related("latest_version")
        .order_by("title")
    )


def pending_reason(request: Request) -> str:
    """Why a request waits: "waiting for Dave (for Bob, via Carol) since 21 Nov 14:02,
    due in 3 hours"."""
    if request.state == RequestState.CHANGES_REQUESTED:
        return f"waiting for {request.requester.display_name} to make changes and resubmit"
    if request.state != RequestState.PENDING:
        return ""
    tasks = list(
        request.tasks.filter(state=TaskState.OPEN, round=request.round)
        .select_related("assignee", "on_behalf_of")
        .order_by("pk")
    )
    if not tasks:
        return "waiting for the engine"
    now = timezone.now()
    between = {u for t in tasks for u in t.delegation_chain[1:-1]}
    names = {
        p.username: p.display_name for p in Person.objects.filter(username__in=between)
    } if between else {}
    parts = []
    for task in tasks:
        text = task.assignee.display_name
        if task.on_behalf_of_id:
            text += f" (for {task.on_behalf_of.display_name}"
            via = [names.get(u, u) for u in task.delegation_chain[1:-1]]
            text += f", via {', '.join(via)})" if via else ")"
        parts.append(text)
    since = request.step_started_at or request.created_at
    message = (
        f"step “{request.current_step}”: waiting for {' and '.join(parts)} "
        f"since {timezone.localtime(since):%d %b %H:%M}"
    )
    due = min((t.due_at for t in tasks if t.due_at), default=None)
    if due:
        message += (
            f", due in {timeuntil(due, now)}" if due > now
            else f", overdue by {timeuntil(now, due)}"
        )
    return message
