"""Notification fixtures: published flows and local fake Slack / Teams / webhook servers
wired into settings."""

from __future__ import annotations

import pytest

from tests.notifications.fakes import FakeSlack, FakeTeams, FakeWebhookReceiver
from tests.notifications.flows import GADGET, publish


@pytest.fixture
def gadget(admins_role):
    return publish(GADGET)


@pytest.fixture
def slack(settings):
    fake = FakeSlack().start()
    settings.SLACK_BOT_TOKEN = fake.token
    settings.SLACK_API_URL = fake.api_url
    settings.SLACK_SIGNING_SECRET = "slack-signing-secret"
    settings.SLACK_RESPONSE_URL_PREFIXES = [fake.url + "/"]
    yield fake
    fake.stop()


@pytest.fixture
def teams(settings):
    fake = FakeTeams().start()
    settings.TEAMS_WEBHOOK_URL = fake.url + "/teams"
    yield fake
    fake.stop()


@pytest.fixture
def receiver():
    fake = FakeWebhookReceiver().start()
    yield fake
    fake.stop()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ...`` runs what the block queued with on_commit when it ends,
    as a real commit would (the test's own transaction never commits)."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run
