"""One-click action links: signed, expiring, single-use; GET shows, only POST decides."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from approvals import services
from approvals.models import Decision
from approvals.notifications.links import make_action_token
from approvals.notifications.models import UsedToken
from tests.notifications.flows import open_task, submit

pytestmark = pytest.mark.django_db


def link(task, person, decision="approve", **kw) -> str:
    token = make_action_token(task_id=task.pk, person_id=person.pk, decision=decision,
                              via=kw.pop("via", "email"), **kw)
    return f"/n/a/{token}/"


def test_the_emailed_link_shows_a_confirmation_page_and_only_post_decides(
    client, gadget, requester, manager, committed
):
    with committed():
        request = submit(requester)
    task = open_task(request)
    approve_url = re.search(r"Approve: http://127\.0\.0\.1:8000(/n/a/\S+/)", mail.outbox[0].body)[1]

    page = client.get(approve_url)  # what a link preview (or a mail scanner) does
    assert page.status_code == 200
    assert b"Laptop for requester" in page.content and b"<form" in page.content
    client.get(approve_url)
    client.head(approve_url)
    task.refresh_from_db()
    assert task.state == "open" and not Decision.objects.exists()

    done = client.post(approve_url)
    assert done.status_code == 200
    assert b"You approved this request." in done.content
    decision = Decision.objects.get(task=task)
    assert decision.decided_by == manager and decision.via == "email"


def test_a_link_works_once(client, gadget, requester, manager):
    task = open_task(submit(requester))
    url = link(task, manager)
    assert client.post(url).status_code == 200
    again = client.post(url)
    assert again.status_code == 410
    assert b"already used" in again.content
    assert client.get(url).status_code == 410
    assert Decision.objects.filter(task=task).count() == 1


def test_an_expired_link_is_refused(client, gadget, requester, manager, settings):
    settings.ACTION_LINK_MAX_AGE = 3600
    task = open_task(submit(requester))
    url = link(task, manager)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = client.post(url)
    assert response.status_code == 410
    assert b"expired" in response.content
    task.refresh_from_db()
    assert task.state == "open"


def test_a_tampered_link_is_refused(client, gadget, requester, manager, outsider):
    task = open_task(submit(requester))
    token = link(task, manager).split("/")[3]
    head, _, tail = token.rpartition(":")
    forged = f"{head}:{tail[:-2]}{'AA' if not tail.endswith('AA') else 'BB'}"
    for url in (f"/n/a/{forged}/", "/n/a/garbage/", f"/n/a/{token[:-5]}/"):
        response = client.post(url)
        assert response.status_code == 400, url
        assert b"not valid" in response.content
    task.refresh_from_db()
    assert task.state == "open"


def test_reject_needs_a_comment_on_the_page_and_the_link_stays_usable(
    client, gadget, requester, manager
):
    task = open_task(submit(requester))
    url = link(task, manager, "reject")
    page = client.get(url)
    assert b"required" in page.content
    missing = client.post(url, {"comment": "  "})
    assert missing.status_code == 400
    assert b"comment is required" in missing.content
    assert not UsedToken.objects.exists()
    ok = client.post(url, {"comment": "Too expensive"})
    assert ok.status_code == 200
    decision = Decision.objects.get(task=task)
    assert decision.decision == "reject" and decision.comment == "Too expensive"


def test_a_stale_task_gets_a_clear_message(client, gadget, requester, manager):
    task = open_task(submit(requester))
    url = link(task, manager)
    services.decide(task_id=task.pk, actor=manager, decision="approve")  # in the web inbox
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 409
        assert b"no longer waiting for your decision" in response.content
        assert b"Nothing was changed" in response.content
    assert Decision.objects.filter(task=task).count() == 1


def test_links_posted_in_a_channel_need_the_person_logged_in(
    client, gadget, requester, manager, outsider
):
    task = open_task(submit(requester))
    url = link(task, manager, via="teams", login_required=True)
    anonymous = client.post(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    client.force_login(outsider)
    assert client.post(url).status_code == 403
    client.force_login(manager)
    assert client.post(url).status_code == 200
    assert Decision.objects.get(task=task).via == "teams"
