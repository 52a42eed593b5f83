"""python manage.py audit_checkpoint: what the hourly beat task does, now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from audit.checkpoints import create_checkpoint


class Command(BaseCommand):
    help = "Hash every audit chain head that changed since the last checkpoint into a new one."

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint = create_checkpoint()
        if checkpoint is None:
            self.stdout.write("no chain changed since the last checkpoint")
        else:
            self.stdout.write(
                f"checkpoint #{checkpoint.seq}: {checkpoint.entry_count} chain heads, "
                f"hash {checkpoint.hash}"
            )
