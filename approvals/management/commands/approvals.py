"""approvals submit | status | decide: the engine from the command line.

    approvals submit --workflow KEY --as USERNAME --input k=v ...
    approvals status --request ID
    approvals decide --task ID --as USERNAME --decision approve [--comment ...]
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from approvals import services
from approvals.choices import Via
from approvals.errors import ApprovalError
from approvals.models import Request
from approvals.selectors import pending_reason
from orgchart.models import Person


def _person(username: str) -> Person:
    person = Person.objects.filter(username=username).first()
    if person is None:
        raise CommandError(f"no person {username!r}")
    return person


def _inputs(pairs: list[str]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--input {pair!r}: expected key=value")
        inputs[key.strip()] = value
    return inputs


def _tasks(request: Request) -> str:
    tasks = request.tasks.filter(state="open").select_related("assignee").order_by("pk")
    return "[" + ", ".join(f"{t.pk}:{t.step_id}:{t.assignee.username}" for t in tasks) + "]"


class Command(BaseCommand):
    help = "Submit requests, show their status and decide tasks from the command line."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        submit = sub.add_parser("submit", help="submit a request")
        submit.add_argument("--workflow", required=True)
        submit.add_argument("--as", dest="username", required=True)
        submit.add_argument("--input", dest="inputs", action="append", default=[],
                            metavar="KEY=VALUE")
        submit.add_argument("--title", default="")
        status = sub.add_parser("status", help="show a request's state and open tasks")
        status.add_argument("--request", dest="request_id", type=int, required=True)
        decide = sub.add_parser("decide", help="decide a task")
        decide.add_argument("--task", dest="task_id", type=int, required=True)
        decide.add_argument("--as", dest="username", required=True)
        decide.add_argument("--decision", required=True,
                            choices=["approve", "reject", "request_changes"])
        decide.add_argument("--comment", default="")

    def handle(self, *args, action: str, **options) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except ApprovalError as exc:
            faults = "; ".join(str(f) for f in exc.faults)
            raise CommandError(faults or exc.message) from exc

    def _submit(self, *, workflow: str, username: str, inputs: list[str], title: str,
                **_: object) -> None:
        request = services.submit(workflow_key=workflow, requester=_person(username),
                                  inputs=_inputs(inputs), title=title, via=Via.CLI)
        request.refresh_from_db()
        self.stdout.write(f"request={request.pk} state={request.state} tasks={_tasks(request)}")

    def _status(self, *, request_id: int, **_: object) -> None:
        request = (
            Request.objects.select_related("workflow", "workflow_version", "requester")
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            raise CommandError(f"no request {request_id}")
        self.stdout.write(
            f"request={request.pk} workflow={request.workflow.key} "
            f"v{request.workflow_version.number} state={request.state} "
            f"requester={request.requester.username} step={request.current_step or '-'}"
        )
        self.stdout.write(f"tasks={_tasks(request)}")
        reason = pending_reason(request)
        if reason:
            self.stdout.write(f"why: {reason}")

    def _decide(self, *, task_id: int, username: str, decision: str, comment: str,
                **_: object) -> None:
        task = services.decide(task_id=task_id, actor=_person(username), decision=decision,
                               comment=comment, via=Via.CLI)
        request = task.request
        request.refresh_from_db()
        self.stdout.write(
            f"task={task.pk} {task.state}; request={request.pk} state={request.state} "
            f"tasks={_tasks(request)}"
        )
