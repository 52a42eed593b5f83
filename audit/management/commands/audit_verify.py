"""python manage.py audit_verify: check every chain, the archive and the checkpoints."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from audit.verify import verify_all


class Command(BaseCommand):
    help = "Walk every audit hash chain, archive file and checkpoint; exit 1 at the first fault."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk-size", type=int, default=2000, help="rows per database fetch")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="processes walking the hot chains side by side (PostgreSQL; try the "
            "number of cores); the archive and checkpoint checks stay in one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workers = options["workers"]
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if workers > 1 and connection.vendor != "postgresql":
            raise CommandError("--workers needs PostgreSQL")
        result = verify_all(chunk_size=max(1, options["chunk_size"]), workers=workers)
        if result.ok:
            self.stdout.write(result.describe())
            return
        self.stderr.write(result.describe())
        sys.exit(1)
