"""The requester's side: submit, cancel, resubmit, comments and evidence."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.text import get_valid_filename

from approvals.choices import RequestState, TaskState, Via
from approvals.errors import Conflict, InvalidInput, NotAllowed
from approvals.models import Attachment, Comment, Request, Workflow
from approvals.notifications.notify import notify
from approvals.recipes import (
    Fault,
)
from approvals.services._common import (
    actor_of,
    clean_comment,
    clean_request_inputs,
    close_open_tasks,
    lock_request,
    log_event,
    service_transaction,
)
from approvals.services._round import track_new_request
from approvals.services.flow import plan_from
from audit.services import Actor
from config.saving import insert, save_fields
from orgchart.models import Person


def submit(
    *,
    workflow_key: str,
    requester: Person,
    inputs: dict[str, Any],
    title: str = "",
    entity_type: str = "",
    entity_id: str = "",
    submitted_by: Person | None = None,
    via: str = Via.WEB,
) -> Request:
    """Create a request on the workflow's latest version and plan its first step."""
    workflow = (
        Workflow.objects.select_related("latest_version").filter(key=str(workflow_key)).first()
    )
    if workflow is None or workflow.latest_version is None:
        raise InvalidInput(
            f"No published workflow {workflow_key!r}.",
            code="unknown_workflow",
            faults=[Fault("workflow", f"no published workflow {workflow_key!r}")],
        )
    if not workflow.is_active:
        raise InvalidInput(
            f"Workflow {workflow.key!r} is retired.",
            code="workflow_retired",
            faults=[Fault("workflow", "this workflow is retired")],
        )
    if not requester.is_active or requester.is_service_account:
        raise InvalidInput(
            "Only an active employee may be a requester.",
            code="invalid_requester",
            faults=[Fault("requester", "not an active employee")],
        )
    faults = [
        Fault(name, f"at most {limit} characters")
        for name, value, limit in (
            ("title", title, 300),
            ("entity_type", entity_type, 100),
            ("entity_id", entity_id, 200),
        )
        if len(value or "") > limit
    ]
    if faults:
        raise InvalidInput(str(faults[0]), faults=faults)
    version = workflow.latest_version
    recipe = version.recipe
    cleaned = clean_request_inputs(recipe, inputs)
    now = timezone.now()
    with service_transaction():
        request = Request(
            workflow=workflow,
            workflow_version=version,
            requester=requester,
            submitted_by=submitted_by,
            title=(title or "").strip() or f"{recipe.title} — {requester.display_name}",
            inputs=cleaned,
            entity_type=entity_type or "",
            entity_id=entity_id or "",
        )
        insert(request)
        track_new_request(request)
        actor = Actor(
            user=(submitted_by or requester).username,
            on_behalf_of=requester.username if submitted_by else None,
            via=via,
        )
        log_event(
            request,
            "request_submitted",
            actor,
            title=request.title,
            submitted_by=submitted_by.username if submitted_by else None,
        )
        plan_from(request, recipe, 0, now=now)
    return request


def cancel(*, request_id: int, actor: Person, comment: str = "", via: str = Via.WEB) -> Request:
    """The requester withdraws a pending (or sent-back) request."""
    comment = clean_comment(comment, required=False)
    with service_transaction():
        request = lock_request(request_id)
        if request.requester_id != actor.pk:
            raise NotAllowed("Only the requester may cancel a request.", code="not_requester")
        if request.state not in (RequestState.PENDING, RequestState.CHANGES_REQUESTED):
            raise Conflict(
                f"The request is already {request.get_state_display().lower()}.",
                code="request_closed",
            )
        now = timezone.now()
        assignees = list(
            Person.objects.filter(tasks__request=request, tasks__state=TaskState.OPEN).distinct()
        )
        cancelled = close_open_tasks(request, now=now)
        request.cancel()
        request.current_step = ""
        request.decided_at = now
        save_fields(request, "state", "current_step", "decided_at", "updated_at")
        log_event(
            request,
            "request_cancelled",
            actor_of(actor, via=via),
            comment=comment,
            cancelled_tasks=cancelled,
        )
        notify(kind="request_finished", request=request, recipients=assignees)
    return request


def resubmit(
    *, request_id: int, actor: Person, inputs: dict[str, Any], via: str = Via.WEB
) -> Request:
    """The requester sends a request back after changes were requested; it runs
    again from the first step with the new inputs (earlier decisions stay in the
    history and do not count)."""
    with service_transaction():
        request = lock_request(request_id)
        if request.requester_id != actor.pk:
            raise NotAllowed("Only the requester may resubmit a request.", code="not_requester")
        if request.state != RequestState.CHANGES_REQUESTED:
            raise Conflict(
                "Only a request sent back for changes can be resubmitted.",
                code="not_changes_requested",
            )
        recipe = request.workflow_version.recipe
        request.inputs = clean_request_inputs(recipe, inputs)
        request.round += 1
        request.resubmit()
        save_fields(request, "inputs", "round", "state", "updated_at")
        log_event(request, "request_resubmitted", actor_of(actor, via=via), round=request.round)
        plan_from(request, recipe, 0, now=timezone.now())
    return request


def add_comment(*, request_id: int, author: Person, text: str, via: str = Via.WEB) -> Comment:
    """A question or an answer on a request's thread; no state change. Anyone who may
    see the request may comment; the other participants are notified."""
    from approvals.selectors import request_for

    text = clean_comment(text, required=True)
    request_for(author, request_id)  # NotFound for those who may not see it
    with service_transaction():
        request = lock_request(request_id)
        comment = Comment.objects.create(request=request, author=author, text=text)
        log_event(
            request, "comment_added", actor_of(author, via=via), comment=comment.pk, text=text
        )
        others = {request.requester_id} | set(
            request.tasks.filter(state=TaskState.OPEN).values_list("assignee_id", flat=True)
        )
        others.discard(author.pk)
        notify(
            kind="comment_added",
            request=request,
            recipients=list(Person.objects.filter(pk__in=others)),
            extra={"comment": comment.pk},
        )
    return comment


def add_attachment(
    *, request_id: int, author: Person, uploaded: Any, via: str = Via.WEB
) -> Attachment:
    """Attach evidence (an UploadedFile) to a request, within the size and type limits
    (settings.APPROVALS ATTACHMENT_MAX_BYTES and ATTACHMENT_TYPES); InvalidInput beyond.
    The requester and the people with a task on the request may attach. The file is
    written inside the transaction (its name goes into the row and the audit event) and
    deleted again if the transaction fails."""
    from approvals.selectors import request_for

    limits = settings.APPROVALS
    name = get_valid_filename(os.path.basename(getattr(uploaded, "name", "") or ""))[:200]
    ext = os.path.splitext(name)[1].lower().lstrip(".")
    size = getattr(uploaded, "size", None)
    problem = (
        "no file was sent"
        if uploaded is None or not name or size is None
        else "the file is empty"
        if size == 0
        else f"the file is larger than {limits['ATTACHMENT_MAX_BYTES'] // 1_000_000} MB"
        if size > limits["ATTACHMENT_MAX_BYTES"]
        else f"files of type .{ext or '?'} are not accepted (allowed: "
        f"{', '.join(sorted(limits['ATTACHMENT_TYPES']))})"
        if ext not in limits["ATTACHMENT_TYPES"]
        else None
    )
    if problem:
        raise InvalidInput(
            f"Attachment refused: {problem}.",
            code="invalid_attachment",
            faults=[Fault("file", problem)],
        )
    request_for(author, request_id)
    stored: str | None = None
    try:
        with service_transaction():
            request = lock_request(request_id)
            is_participant = (
                request.requester_id == author.pk or request.tasks.filter(assignee=author).exists()
            )
            if not is_participant:
                raise NotAllowed(
                    "Only the requester and its approvers may attach files.", code="not_participant"
                )
            digest = hashlib.sha256()
            for chunk in uploaded.chunks():
                digest.update(chunk)
            uploaded.seek(0)
            attachment = Attachment(
                request=request,
                uploaded_by=author,
                filename=name,
                content_type=limits["ATTACHMENT_TYPES"][ext],
                size=size,
                sha256=digest.hexdigest(),
            )
            attachment.file.save(name, uploaded, save=False)
            stored = attachment.file.name
            attachment.save(force_insert=True)
            log_event(
                request,
                "attachment_added",
                actor_of(author, via=via),
                attachment=attachment.pk,
                filename=name,
                size=size,
                sha256=attachment.sha256,
            )
    except BaseException:
        # The row and its event were rolled back: the file must not stay behind.
        if stored is not None:
            Attachment.file.field.storage.delete(stored)
        raise
    return attachment
