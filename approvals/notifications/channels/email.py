"""Email through Django's mail framework: HTML and text, any backend by settings."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from ..render import build_message
from .base import DeliveryError

if TYPE_CHECKING:
    from orgchart.models import Person

    from ..models import Outbox


def available(person: Person) -> bool:
    return bool(person.email)


def send(row: Outbox, merged: list[Outbox]) -> None:
    person = row.recipient
    if person is None or not person.email:
        raise DeliveryError("the recipient has no email address", permanent=True)
    msg = build_message(row, merged, via="email")
    context = {"message": msg, "person": person, "site_url": settings.SITE_URL}
    # A Message-ID derived from the outbox row: a mail system that sees the same
    # message twice (a retry after a lost acknowledgement) can tell.
    digest = hashlib.sha256(row.dedup_key.encode()).hexdigest()[:32]
    email = EmailMultiAlternatives(
        subject=f"[Approvals] {msg.subject}"[:200],
        body=render_to_string("notifications/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.email],
        headers={"Message-ID": f"<{digest}.{row.pk}@approvals>"},
    )
    email.attach_alternative(render_to_string("notifications/email.html", context), "text/html")
    try:
        email.send(fail_silently=False)
    except OSError as exc:  # smtplib errors are OSErrors: a retry may succeed
        raise DeliveryError(f"mail server: {exc}") from exc
