"""Fixtures of the page tests: published workflows and requests made through the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from approvals import services
from approvals.models import Request, Task
from tests.factories import RoleFactory, add_members

PURCHASE_ORDER = """
workflow: purchase_order
title: Purchase order
description: Buy goods or services. Anything over 5,000 also needs finance.
inputs:
  amount: {type: money, required: true, min: 0, max: 1000000}
  vendor: {type: string, required: true, max_length: 200}
  category: {type: choice, options: [hardware, software, services]}
  reason: {type: text}
visibility: restricted
viewers: [procurement-auditors]
steps:
  - id: manager
    approver: "{{ requester.manager }}"
    timeout: 48h
    on_timeout: escalate
  - id: finance
    when: amount > 5000
    type: parallel
    approvers: finance-approvers
    quorum: any
"""

EVERY_TYPE = """
workflow: every_type
title: Every input type
inputs:
  amount: {type: money, required: true, min: 0, max: 500}
  count: {type: integer, min: 1, max: 10}
  ratio: {type: number, min: 0, max: 1}
  vendor: {type: string, max_length: 20}
  notes: {type: text}
  urgent: {type: boolean}
  needed_by: {type: date}
  kind: {type: choice, required: true, options: [a, b]}
  backup: {type: user, label: Backup approver}
  budget: {type: money}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
"""


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Personas get their password hashed on creation; a fast hasher keeps tests quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def auditors_of_procurement(db, grandboss):
    return RoleFactory(name="procurement-auditors")


@pytest.fixture
def purchase_order(admins_role, finance, auditors_of_procurement, grandboss):
    version, _ = services.publish(source=PURCHASE_ORDER, author=grandboss)
    return version.workflow


@pytest.fixture
def every_type(admins_role, grandboss):
    version, _ = services.publish(source=EVERY_TYPE, author=grandboss)
    return version.workflow


@pytest.fixture
def make_po(purchase_order, requester) -> Callable[..., Request]:
    """Submit a purchase order through the engine, as the requester by default."""

    def make(amount: str = "1200.00", vendor: str = "Acme", who: Any = None, **extra: Any):
        return services.submit(
            workflow_key="purchase_order",
            requester=who or requester,
            inputs={"amount": amount, "vendor": vendor, **extra},
            title=f"{vendor} order",
        )

    return make


def open_task(request: Request) -> Task:
    return request.tasks.get(state="open")


@pytest.fixture
def as_user(client):
    """Log the test client in as a persona."""

    def login(person):
        client.force_login(person)
        return client

    return login


@pytest.fixture
def procurement_auditor(auditors_of_procurement, grandboss):
    from tests.factories import PersonFactory

    auditor = PersonFactory(username="audrey", name="Audrey Auditor", manager=grandboss)
    add_members(auditors_of_procurement, auditor)
    return auditor
