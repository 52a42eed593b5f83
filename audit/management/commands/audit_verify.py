"""python manage.py audit_verify: check every chain, the archive and the checkpoints."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.verify import verify_all


class Command(BaseCommand):
    help = "Walk every audit hash chain, archive file and checkpoint; exit 1 at the first fault."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk-size", type=int, default=2000, help="rows per database fetch")

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_all(chunk_size=max(1, options["chunk_size"]))
        if result.ok:
            self.stdout.write(result.describe())
            return
        self.stderr.write(result.describe())
        sys.exit(1)
