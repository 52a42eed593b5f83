"""Small recipes with SLAs for notification and sweep tests, and helpers."""

from __future__ import annotations

from approvals import services
from approvals.models import Request, Task, WorkflowVersion
from orgchart.models import Person

GADGET = """
workflow: gadget
title: Gadget
inputs:
  amount: {type: money, required: true, min: 0}
  vendor: {type: string}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
    sla: {due: 1h, remind_at: 50%, escalate_at: 100%}
"""

# Reminder at 30 min, escalation at 1 h, automatic rejection at 90 min.
STRICT = """
workflow: strict
title: Strict purchase
inputs:
  amount: {type: money, required: true, min: 0}
  vendor: {type: string}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
    sla:
      due: 1h
      remind_at: 50%
      escalate_at: 100%
      escalate_to: "{{ approver.manager }}"
      auto_action_at: 150%
      auto_action: reject
"""


def publish(source: str) -> WorkflowVersion:
    version, _ = services.publish(source=source)
    return version


def submit(requester: Person, workflow: str = "gadget", amount: int = 1200) -> Request:
    return services.submit(
        workflow_key=workflow, requester=requester, inputs={"amount": amount, "vendor": "Acme"},
        title=f"Laptop for {requester.username}",
    )


def open_task(request: Request) -> Task:
    return request.tasks.select_related("assignee").get(state="open")
