"""``manage.py sweep_sla``: one SLA pass and one outbox re-queue, now (the same
code Celery beat runs every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from approvals import sla
from approvals.notifications import delivery


class Command(BaseCommand):
    help = (
        "Run one SLA sweep (reminders, escalations, auto actions, expiries) "
        "and re-queue the outbox."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now", help="act as if it were this ISO time (with a zone), e.g. for a drill"
        )
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options["now"]:
            now = parse_datetime(options["now"])
            if now is None or now.tzinfo is None:
                raise CommandError(f"--now: not an ISO date-time with a zone: {options['now']!r}")
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        result = sla.sweep(now=now, batch_size=options["batch_size"])
        self.stdout.write(str(result))
        for task_id, actions in sorted(result.acted.items()):
            self.stdout.write(f"  task {task_id}: {', '.join(actions)}")
        self.stdout.write(str(delivery.requeue(now=now)))
        if result.errors:
            raise CommandError(f"{len(result.errors)} task(s) failed; see above")
