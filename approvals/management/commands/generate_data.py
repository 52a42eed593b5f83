"""``manage.py generate_data --scale 0.01 --seed 1``: enterprise-size benchmark data."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from approvals.datagen import BENCH_PASSWORD, BENCH_USERS, generate


class Command(BaseCommand):
    help = (
        "Generate people, roles, absences, workflows with versions, open and finished "
        "requests with tasks, decisions and hash-chained audit events. Scale 1 is "
        "100,000 people, 1,000 workflows, 200,000 open and 2,000,000 finished requests. "
        "Use an empty database (the command refuses one that already holds generated data)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", type=float, default=0.01,
                            help="fraction of the full enterprise (default 0.01)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--tag", default="p",
                            help="prefix of generated usernames and workflow keys")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["tag"].isidentifier() or len(options["tag"]) > 10:
            raise CommandError("--tag: up to 10 letters, digits or _")
        try:
            report = generate(
                scale=options["scale"], seed=options["seed"], tag=options["tag"],
                progress=lambda msg: self.stdout.write(msg),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        plan = report.plan
        self.stdout.write(
            f"scale {plan.scale}: {plan.people} people, {plan.workflows} workflows, "
            f"{plan.open_requests} open and {plan.finished_requests} finished requests"
        )
        for label, count in sorted(report.counts.items()):
            self.stdout.write(f"  {label}: {count}")
        self.stdout.write(f"total {sum(report.seconds.values()):.1f} s")
        self.stdout.write(f"benchmark logins: {', '.join(BENCH_USERS)} / {BENCH_PASSWORD}")
