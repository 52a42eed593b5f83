"""Celery tasks: thin wrappers that take an id (or nothing), call one function, and
return a short summary. Started by beat or after commit, never inside a transaction."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from approvals import sla
from approvals.notifications import delivery


@shared_task(name="approvals.tasks.sweep_sla_task", ignore_result=True)
def sweep_sla_task(as_of: str | None = None) -> str:
    """Every minute (beat): one SLA pass. With a backlog, the beat's pass first asks
    for ``SLA_SWEEPERS`` - 1 more passes as of its own moment (``as_of``), which other
    worker processes run beside it; one not started within the minute is dropped
    (the next beat's pass finds what is left)."""
    if as_of is not None:
        return str(sla.sweep(now=datetime.fromisoformat(as_of)))
    now = timezone.now()
    sla.ask_for_helpers(
        now, lambda: sweep_sla_task.apply_async(kwargs={"as_of": now.isoformat()}, expires=60)
    )
    return str(sla.sweep(now=now))


@shared_task(name="approvals.tasks.deliver_outbox", ignore_result=True, acks_late=True)
def deliver_outbox(outbox_id: int) -> str:
    """Deliver one outbox row. Failures are recorded on the row (with its retry
    time), never raised: the row, not Celery, keeps the retry state."""
    return delivery.deliver(outbox_id)


@shared_task(name="approvals.tasks.deliver_outbox_many", ignore_result=True, acks_late=True)
def deliver_outbox_many(outbox_ids: list[int]) -> list[str]:
    """Deliver a chunk of outbox rows, one after another, each claimed on its own
    (a chunk run twice, after a worker died, sends each message once)."""
    return [delivery.deliver(outbox_id) for outbox_id in outbox_ids]


@shared_task(name="approvals.tasks.requeue_outbox", ignore_result=True)
def requeue_outbox() -> str:
    """Every minute (beat): hand the broker what never reached it and due retries."""
    return str(delivery.requeue())


@shared_task(name="approvals.tasks.send_reminder_digests", ignore_result=True)
def send_reminder_digests() -> int:
    """Hourly (beat): at NOTIFY_DIGEST_HOUR, one digest per person who chose it."""
    return delivery.send_digests()


@shared_task(name="approvals.tasks.move_absent_tasks", ignore_result=True)
def move_absent_tasks() -> int:
    """Every minute (beat): absences that move open tasks and have started hand their
    owners' open tasks to the delegate, once each."""
    from approvals import services

    return services.move_tasks_of_started_absences()


@shared_task(name="approvals.tasks.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> int:
    """Hourly (beat): delete the API's expired Idempotency-Keys (kept 24 hours)."""
    from approvals.api import idempotency

    return idempotency.purge_expired()
