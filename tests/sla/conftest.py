"""SLA fixtures: a strict recipe (remind at 30 min, escalate at 1 h, reject at 90 min)."""

from __future__ import annotations

import pytest

from tests.notifications.flows import STRICT, publish


@pytest.fixture
def strict(admins_role):
    return publish(STRICT)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run
