"""publish_workflow FILE: validate and publish a recipe; prints ``KEY vN``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from approvals import services
from approvals.errors import InvalidInput


class Command(BaseCommand):
    help = "Validate and publish a workflow recipe (YAML or JSON). Prints KEY vN."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the recipe file")

    def handle(self, *args, file: str, **options) -> None:
        path = Path(file)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            version, created = services.publish(source=source)
        except InvalidInput as exc:
            for fault in exc.faults:
                where = f"{fault.path}:{fault.line}" if fault.line else fault.path
                self.stderr.write(f"{file}:{where}: {fault.message}")
            raise CommandError(f"{file}: not published ({len(exc.faults)} error(s))") from exc
        note = "" if created else " (unchanged: identical to the latest version)"
        self.stdout.write(f"{version.workflow.key} v{version.number}{note}")
