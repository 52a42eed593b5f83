"""The engine: the one way requests, tasks and decisions change.

Every function here runs in one transaction, locks the request row first
(``select_for_update``; on SQLite the IMMEDIATE transaction serializes writers),
moves states only through django-fsm transitions, writes its audit events in
the same transaction and queues anything that leaves the process after commit
(``notify`` writes outbox rows and hands them to Celery with on_commit).
``_common.service_transaction`` is that transaction: inside it the round's tasks
are read once (``_round``) and a call's notifications are written together.
"""

from approvals.services.decisions import decide, delegate
from approvals.services.publishing import publish
from approvals.services.requests import add_attachment, add_comment, cancel, resubmit, submit
from approvals.services.sla import (
    auto_decide,
    escalate,
    expire,
    move_tasks_of_started_absences,
    reassign_open_tasks,
    remind,
    sla_act,
    sla_act_many,
    sla_put_off,
)

__all__ = [
    "add_attachment",
    "add_comment",
    "auto_decide",
    "cancel",
    "decide",
    "delegate",
    "escalate",
    "expire",
    "move_tasks_of_started_absences",
    "publish",
    "reassign_open_tasks",
    "remind",
    "resubmit",
    "sla_act",
    "sla_act_many",
    "sla_put_off",
    "submit",
]
