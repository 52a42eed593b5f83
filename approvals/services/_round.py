"""The tasks of a request's current round, read once per service call.

Every audit event carries a snapshot that lists the current round's tasks, and one
decision writes up to five events; quorum counting and step closing read the same
tasks again. Inside ``tracking()`` (every engine service runs in one) the list is
read from the database once per request and then kept up to date in memory: each
``Task.save()`` of a tracked request patches it (a ``post_save`` receiver), so the
list is always what the query would return. When a save does not carry what the
list needs (a new assignee whose person is not loaded), the request is forgotten
and read again at the next use. Outside ``tracking()`` every call queries.
Inside it, tasks change through ``save()`` only: a queryset ``update()`` sends no
signal (the engine tests compare every read with the database).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import EllipsisType
from typing import Any

from django.db.models.signals import post_save

from approvals.choices import TaskState
from approvals.models import Request, Task


@dataclass(frozen=True)
class RoundTask:
    """One task as snapshots and quorum see it."""

    id: int
    step: str
    assignee_id: int
    assignee: str
    on_behalf_of_id: int | None
    on_behalf_of: str | None
    state: str

    @property
    def is_open(self) -> bool:
        return self.state == TaskState.OPEN

    def as_snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "step": self.step,
            "assignee": self.assignee,
            "on_behalf_of": self.on_behalf_of,
            "state": self.state,
        }


class _Tracked:
    """The requests read in this service call: request id -> (round, tasks by id)."""

    def __init__(self) -> None:
        self.requests: dict[int, tuple[int, dict[int, RoundTask]]] = {}


_local = threading.local()


def _current() -> _Tracked | None:
    return getattr(_local, "tracked", None)


@contextmanager
def tracking() -> Iterator[None]:
    """Keep the round's tasks in memory for the block (one service call). A nested
    block shares the outer one; if it fails, its savepoint rolled back task changes
    the list may have seen, so everything is forgotten."""
    outer = _current()
    if outer is not None:
        try:
            yield
        except BaseException:
            outer.requests.clear()
            raise
        return
    _local.tracked = _Tracked()
    try:
        yield
    finally:
        _local.tracked = None


def round_tasks(request: Request) -> list[RoundTask]:
    """The tasks of the request's current round, by id."""
    tracked = _current()
    if tracked is not None:
        entry = tracked.requests.get(request.pk)
        if entry is not None and entry[0] == request.round:
            return sorted(entry[1].values(), key=lambda t: t.id)
    rows = [
        RoundTask(*row)
        for row in Task.objects.filter(request_id=request.pk, round=request.round)
        .order_by("pk")
        .values_list(
            "pk",
            "step_id",
            "assignee_id",
            "assignee__username",
            "on_behalf_of_id",
            "on_behalf_of__username",
            "state",
        )
    ]
    if tracked is not None:
        tracked.requests[request.pk] = (request.round, {t.id: t for t in rows})
    return rows


def known_round_tasks(request: Request) -> list[RoundTask] | None:
    """The tracked list if this service call has read it, else None (no query)."""
    tracked = _current()
    entry = tracked.requests.get(request.pk) if tracked is not None else None
    if entry is None or entry[0] != request.round:
        return None
    return sorted(entry[1].values(), key=lambda t: t.id)


def track_locked_round(request: Request, tasks: list[Task], *, people: bool) -> None:
    """The round's tasks as ``lock_task`` read them (all of the current round, in id
    order): with ``people`` their assignee and on-behalf-of objects are loaded, else
    their usernames are the ``assignee_username`` / ``behalf_username`` annotations."""
    tracked = _current()
    if tracked is None:
        return
    listed = {}
    for task in tasks:
        if people:
            assignee = task.assignee.username
            behalf = task.on_behalf_of.username if task.on_behalf_of_id else None
        else:
            assignee, behalf = task.assignee_username, task.behalf_username
        listed[task.pk] = RoundTask(
            task.pk, task.step_id, task.assignee_id, assignee, task.on_behalf_of_id, behalf,
            task.state,
        )
    tracked.requests[request.pk] = (request.round, listed)


def track_new_request(request: Request) -> None:
    """A request created in this service call has no tasks yet: nothing to read."""
    tracked = _current()
    if tracked is not None:
        tracked.requests[request.pk] = (request.round, {})


def _username(task: Task, name: str, known: RoundTask | None) -> str | EllipsisType | None:
    """The username behind ``task.<name>`` without a query, or ``...`` if it is not
    loaded (then the request is read again)."""
    person_id = getattr(task, f"{name}_id")
    if person_id is None:
        return None
    if known is not None and getattr(known, f"{name}_id") == person_id:
        return getattr(known, name)
    if Task._meta.get_field(name).is_cached(task):
        return getattr(task, name).username
    return ...


def _task_saved(sender: Any, instance: Task, update_fields: Any = None, **kwargs: Any) -> None:
    """Patch the tracked list of the task's request with what was just saved."""
    tracked = _current()
    entry = tracked.requests.get(instance.request_id) if tracked is not None else None
    if entry is None:
        return
    round_, tasks = entry
    known = tasks.get(instance.pk)
    if instance.round != round_:
        if known is not None:  # it left the round: read the list again
            del tracked.requests[instance.request_id]
        return
    if known is not None and update_fields is not None and not (_PEOPLE & update_fields):
        # The usual save: a state change (or SLA times) of a task already listed.
        if "state" in update_fields:
            tasks[instance.pk] = replace(known, state=instance.state)
        return
    assignee = _username(instance, "assignee", known)
    behalf = _username(instance, "on_behalf_of", known)
    if assignee is ... or behalf is ...:
        del tracked.requests[instance.request_id]
        return
    tasks[instance.pk] = RoundTask(
        id=instance.pk,
        step=instance.step_id,
        assignee_id=instance.assignee_id,
        assignee=assignee,
        on_behalf_of_id=instance.on_behalf_of_id,
        on_behalf_of=behalf,
        state=instance.state,
    )


# Saved fields that change more than a listed task's state.
_PEOPLE = frozenset({"assignee", "assignee_id", "on_behalf_of", "on_behalf_of_id", "step_id"})

post_save.connect(_task_saved, sender=Task, dispatch_uid="approvals-round-tasks")
