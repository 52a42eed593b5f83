"""Shared fixtures: the personas every test speaks of.

    grandboss
      └── manager ── requester, delegate's peer
    delegate (reports to grandboss), outsider (another department)
"""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests.factories import PersonFactory, RoleFactory, add_members

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
ON_REDIS = os.environ.get("CELERY_BROKER_URL", "").startswith("redis")

postgres_only = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs PostgreSQL (real row locks / triggers); CI sets DATABASE_URL to run it",
)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """PBKDF2 costs ~0.3 s a person; tests make hundreds of people."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Celery tasks run inline unless a test asks for a real broker."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture(autouse=True)
def _fresh_subscriptions():
    """notify caches the active webhook subscriptions for a few seconds; a test's
    rolled-back subscriptions must not outlive it (a rollback sends no signal)."""
    from approvals.notifications.notify import forget_subscriptions

    forget_subscriptions()
    yield
    forget_subscriptions()


@pytest.fixture(autouse=True)
def _round_robin_connections_closed():
    """Round-robin picks use a connection of their own per thread (PostgreSQL); none
    may outlive a test (the test database is dropped at the end)."""
    yield
    from orgchart.resolution import close_own_connections

    close_own_connections()


@pytest.fixture
def grandboss(db):
    return PersonFactory(username="grandboss", name="Gina Grand", title="VP")


@pytest.fixture
def manager(grandboss):
    return PersonFactory(username="manager", name="Bob Manager", manager=grandboss)


@pytest.fixture
def requester(manager):
    return PersonFactory(username="requester", name="Alice Requester", manager=manager)


@pytest.fixture
def delegate(grandboss):
    return PersonFactory(username="delegate", name="Carol Delegate", manager=grandboss)


@pytest.fixture
def outsider(grandboss):
    return PersonFactory(
        username="outsider", name="Oscar Outsider", manager=grandboss, department="sales"
    )


@pytest.fixture
def admins_role(grandboss):
    """The default fallback role, so nothing stalls."""
    return add_members(RoleFactory(name="approval-admins"), grandboss)


@pytest.fixture
def finance(db, grandboss):
    frank = PersonFactory(username="frank", name="Frank Finance", manager=grandboss)
    fiona = PersonFactory(username="fiona", name="Fiona Finance", manager=grandboss)
    return add_members(RoleFactory(name="finance-approvers"), frank, fiona)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"
