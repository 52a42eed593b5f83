"""``python manage.py load_org FILE [--dry-run] [--format yaml|json|csv]``."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from orgchart.errors import OrgChartError
from orgchart.models import Person
from orgchart.orgfile import FORMATS
from orgchart.services import load_org


class Command(BaseCommand):
    help = (
        "Create or update people, managers, roles and absences from an HR export "
        "(YAML, JSON or CSV). Idempotent; people missing from the file are left alone."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="the org file (.yaml, .yml, .json or .csv)")
        parser.add_argument("--dry-run", action="store_true", help="print what would change")
        parser.add_argument("--format", choices=FORMATS, help="when the file name does not say")
        parser.add_argument("--as", dest="actor", help="username recorded as making the change")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read the file ({exc})") from exc
        actor = None
        if options["actor"]:
            actor = Person.objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"--as: nobody named {options['actor']!r}")
        try:
            report = load_org(
                text=text,
                fmt=options["format"],
                filename=path.name,
                dry_run=options["dry_run"],
                actor=actor,
            )
        except OrgChartError as exc:
            for fault in exc.faults:
                # path:line: where: message, as publish_workflow prints recipe faults
                where = f"{fault.where}: " if fault.where else ""
                self.stderr.write(f"{path}:{fault.line or 0}: {where}{fault.message}")
            raise CommandError(f"{path}: {exc.message}; nothing was changed") from exc
        for line in report.lines():
            self.stdout.write(line)
