"""import_history FILE: load past requests with their original times and deciders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from approvals.errors import InvalidInput
from approvals.history_import import import_history


class Command(BaseCommand):
    help = (
        "Load past requests (JSON lines or a JSON list; format in approvals/history_import.py) "
        "with their original times, requesters and deciders, marked as imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the history file")
        parser.add_argument(
            "--create-missing-people",
            action="store_true",
            help="create people who have left as inactive accounts instead of refusing",
        )

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            result = import_history(text, create_missing_people=options["create_missing_people"])
        except InvalidInput as exc:
            for fault in exc.faults:
                self.stderr.write(f"{file}: {fault}")
            raise CommandError(f"{file}: nothing imported ({len(exc.faults)} fault(s))") from exc
        self.stdout.write(
            f"imported {len(result.imported)} requests, skipped {len(result.skipped)} "
            f"already imported, created {len(result.people_created)} people"
        )
