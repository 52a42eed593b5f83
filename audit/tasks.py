"""Celery beat entries of the audit trail (see CELERY_BEAT_SCHEDULE). Thin: one service each."""

from __future__ import annotations

from celery import shared_task

from .archive import archive_events
from .checkpoints import create_checkpoint


@shared_task(name="audit.tasks.checkpoint_task")
def checkpoint_task() -> int | None:
    """Hourly: hash every changed chain head into the checkpoint chain."""
    checkpoint = create_checkpoint()
    return checkpoint.seq if checkpoint else None


@shared_task(name="audit.tasks.archive_task")
def archive_task() -> int:
    """Nightly: move events past AUDIT_HOT_DAYS to the archive; returns files written."""
    return len(archive_events())
