from .requests import (
    REPLACED_TASK_STATES,
    Attachment,
    Comment,
    Decision,
    Request,
    Task,
)
from .workflows import Workflow, WorkflowVersion

__all__ = [
    "REPLACED_TASK_STATES",
    "Attachment",
    "Comment",
    "Decision",
    "Request",
    "Task",
    "Workflow",
    "WorkflowVersion",
]
