"""python manage.py audit_archive: what the nightly beat task does, now."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.archive import archive_events
from audit.services import Actor


class Command(BaseCommand):
    help = "Move audit events older than the hot window (AUDIT_HOT_DAYS) to gzip archive files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days", type=int, help="override AUDIT_HOT_DAYS for this run"
        )
        parser.add_argument("--batch-size", type=int, help="events per archive file")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options.get("older_than_days")
        if days is not None and days < 0:
            raise CommandError("--older-than-days must be 0 or more")
        batch = options.get("batch_size")
        if batch is not None and batch < 1:
            raise CommandError("--batch-size must be at least 1")
        before = timezone.now() - timedelta(days=days) if days is not None else None
        archives = archive_events(before=before, batch_size=batch, actor=Actor("system", via="cli"))
        moved = sum(a.event_count for a in archives)
        self.stdout.write(f"archived {moved} events into {len(archives)} files")
        for archive in archives:
            self.stdout.write(
                f"  {archive.name} {archive.event_count} events sha256={archive.sha256}"
            )
