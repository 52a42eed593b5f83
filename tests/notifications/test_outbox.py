"""The outbox: written with the state change, delivered after commit, once."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.notifications import delivery
from approvals.notifications import notify as notify_module
from approvals.notifications.models import NotificationPreference, Outbox, WebhookSubscription
from approvals.notifications.notify import _last_sent as last_sent
from approvals.notifications.notify import notify
from tests.conftest import postgres_only
from tests.notifications.flows import open_task, submit

pytestmark = pytest.mark.django_db


def subscribe(receiver) -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        name="erp", url=receiver.url + "/hook", secret=receiver.secret
    )


def test_submitting_writes_one_outbox_row_and_emails_the_approver(
    gadget, requester, manager, committed
):
    with committed():
        request = submit(requester)
    task = open_task(request)

    [row] = Outbox.objects.filter(kind="task_assigned")
    assert row.recipient == manager
    assert row.channel == "email"
    assert row.dedup_key == f"r{request.pk}:0:manager:t{task.pk}:task_assigned:email:p{manager.pk}"
    assert row.state == "sent" and row.attempts == 1
    [email] = mail.outbox
    assert email.to == [manager.email]
    assert "Alice Requester asks for your approval: Laptop for requester" in email.subject
    html = email.alternatives[0][0]
    assert email.alternatives[0][1] == "text/html"
    # Three one-click links, in both parts, to the confirmation page.
    links = re.findall(r"http://127\.0\.0\.1:8000/n/a/[^/\s\"]+/", email.body)
    assert len(links) == 3
    assert all(link in html for link in links)


def test_the_same_message_written_twice_is_inserted_once(gadget, requester, manager, committed):
    with committed():
        request = submit(requester)
    task = open_task(request)
    with committed(), transaction.atomic():
        notify(kind="task_assigned", request=request, task=task, recipients=[manager, manager])
        notify(kind="task_assigned", request=request, task=task, recipients=[manager])
    assert Outbox.objects.filter(kind="task_assigned").count() == 1
    assert len(mail.outbox) == 1


def test_nothing_is_written_or_sent_for_a_transaction_that_rolls_back(
    gadget, requester, manager, committed
):
    request = submit(requester)
    task = open_task(request)
    mail.outbox.clear()

    class Boom(Exception):
        pass

    with committed(), pytest.raises(Boom), transaction.atomic():
        notify(kind="task_reminder", request=request, task=task, recipients=[manager])
        raise Boom
    assert not Outbox.objects.filter(kind="task_reminder").exists()
    assert mail.outbox == []


def test_one_row_delivered_twice_sends_one_message(gadget, requester, manager, receiver, settings):
    subscribe(receiver)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with transaction.atomic():
        # Written, but delivery is run by hand below (no on_commit hand-off yet).
        request = submit(requester)
        row = Outbox.objects.get(channel="webhook", kind="task_assigned")
        Outbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() + timedelta(days=1))
    later = timezone.now() + timedelta(days=1, seconds=1)
    assert delivery.deliver(row.pk, now=later) == "sent"
    assert delivery.deliver(row.pk, now=later) == "skipped"
    assert len(receiver.received) == 1
    assert [a["request"]["id"] for a in receiver.accepted] == [request.pk]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_row_send_one_message(requester, manager, receiver, admins_role):
    from tests.notifications.flows import GADGET, publish

    publish(GADGET)
    subscribe(receiver)
    with transaction.atomic():
        submit(requester)
        row = Outbox.objects.get(channel="webhook")
        # Park it so the after-commit hand-off leaves it to the racing workers.
        Outbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() + timedelta(days=1))
    later = timezone.now() + timedelta(days=1, seconds=1)
    barrier = threading.Barrier(6)
    results: list[str] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(delivery.deliver(row.pk, now=later))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["sent"] + ["skipped"] * 5
    assert len(receiver.received) == 1


def test_a_failing_receiver_is_retried_with_backoff_then_marked_failed(
    gadget, requester, manager, receiver, settings, committed
):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    receiver.fail_status = 500
    subscribe(receiver)
    start = timezone.now()
    with committed():
        request = submit(requester)  # the decision path never sees the failure
    assert request.state == "pending"
    row = Outbox.objects.get(channel="webhook")
    assert row.state == "pending" and row.attempts == 1
    assert "HTTP 500" in row.last_error
    assert timedelta(seconds=29) < row.next_attempt_at - start < timedelta(seconds=32)

    # Not due yet: the sweep leaves it alone.
    assert delivery.requeue().due == 0
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        delivery.requeue()
    row.refresh_from_db()
    assert row.attempts == 2 and row.state == "pending"
    assert timedelta(seconds=59) < row.next_attempt_at - (start + timedelta(seconds=31))
    with time_machine.travel(start + timedelta(seconds=95), tick=False):
        delivery.requeue()
    row.refresh_from_db()
    assert row.state == "failed" and row.attempts == 3
    assert row.last_error.startswith("attempt 3: DeliveryError: HTTP 500")
    assert len(receiver.received) == 3
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        assert delivery.requeue().due == 0  # a failed row stays failed until an operator acts


def test_messages_about_one_request_within_the_window_collapse_into_one(
    gadget, requester, manager, settings, committed
):
    settings.NOTIFY_COLLAPSE_SECONDS = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False), committed():
        request = submit(requester)
    task = open_task(request)
    assert len(mail.outbox) == 1
    with time_machine.travel(start + timedelta(seconds=5), tick=False), committed():
        notify(kind="task_reminder", request=request, task=task, recipients=[manager])
    with time_machine.travel(start + timedelta(seconds=10), tick=False), committed():
        notify(kind="comment_added", request=request, recipients=[manager],
               extra={"dedup": "c1", "text": "Any news?", "author_name": "Alice"})
    assert len(mail.outbox) == 1  # held until the window is over
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        delivery.requeue()
    assert len(mail.outbox) == 2
    combined = mail.outbox[1]
    assert combined.subject.startswith("[Approvals] 2 updates:")
    assert "Reminder: Laptop for requester is waiting for your decision" in combined.body
    states = sorted(Outbox.objects.filter(recipient=manager).values_list("state", flat=True))
    assert states == ["collapsed", "sent", "sent"]


def test_the_collapse_check_answers_alike_for_one_value_and_for_many(
    gadget, requester, manager, outsider
):
    """The lookup where the INSERT cannot hold rows itself: one value or many, the
    same rows."""
    request = submit(requester)
    sent_at = timezone.now()
    Outbox.objects.filter(request=request).update(state="sent", sent_at=sent_at)
    since = sent_at - timedelta(minutes=1)
    mine = (manager.pk, request.pk, "email")
    one = last_sent({manager.pk}, {request.pk}, {"email"}, since)
    many = last_sent({manager.pk, outsider.pk}, {request.pk, request.pk + 1}, {"email", "slack"},
                     since)
    assert one == many == {mine: sent_at}
    assert last_sent({outsider.pk}, {request.pk}, {"email"}, since) == {}
    assert last_sent({manager.pk}, {request.pk}, {"email"}, sent_at) == {}  # not after since


@pytest.mark.parametrize("where", ["in the insert", "in python"])
@pytest.mark.parametrize("ago", [10, 120])
def test_a_message_sent_within_the_window_holds_the_next_one_until_the_window_ends(
    gadget, requester, manager, settings, monkeypatch, where, ago
):
    """On PostgreSQL the collapse check is part of the outbox INSERT; elsewhere (and
    here when switched off) a query before it: the same rows either way."""
    if where == "in the insert" and connection.vendor != "postgresql":
        pytest.skip("the collapse check joins the INSERT on PostgreSQL only")
    if where == "in python":
        monkeypatch.setattr(notify_module, "_hold_in_insert", lambda now: None)
    settings.NOTIFY_COLLAPSE_SECONDS = 60
    request = submit(requester)
    task = open_task(request)
    sent_at = timezone.now() - timedelta(seconds=ago)
    Outbox.objects.filter(request=request).update(state="sent", sent_at=sent_at)
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        notify(kind="task_reminder", request=request, task=task, recipients=[manager])
    [row] = Outbox.objects.filter(kind="task_reminder")
    if ago < 60:  # held: pending until the window after the last message ends
        assert (row.state, row.queued_at) == ("pending", None)
        assert row.next_attempt_at == sent_at + timedelta(seconds=60)
    else:  # due now: written queued, for the hand-off after commit
        assert row.state == "queued" and row.queued_at is not None
        assert row.next_attempt_at <= timezone.now()
    checks = [sql for sql in (q["sql"] for q in ctx.captured_queries)
              if sql.startswith("SELECT") and '"notifications_outbox"' in sql]
    assert len(checks) == (0 if where == "in the insert" else 1)


def test_reminders_can_wait_for_a_daily_digest(gadget, requester, manager, committed):
    NotificationPreference.objects.create(person=manager, reminder_digest=True)
    request = submit(requester)
    task = open_task(request)
    mail.outbox.clear()
    with committed():
        notify(kind="task_reminder", request=request, task=task, recipients=[manager])
    assert Outbox.objects.get(kind="task_reminder").state == "digest"
    assert delivery.send_digests() in (0, 1)  # only at NOTIFY_DIGEST_HOUR …
    mail.outbox.clear()
    Outbox.objects.filter(kind="reminder_digest").delete()
    Outbox.objects.filter(kind="task_reminder").update(state="digest", collapsed_into=None)
    assert delivery.send_digests(force=True) == 1
    [email] = mail.outbox
    assert email.subject == "[Approvals] 1 approval waiting for you"
    assert f"/tasks/{task.pk}/" in email.body
    assert Outbox.objects.get(kind="task_reminder").state == "collapsed"


def test_people_get_their_preferred_channel_and_email_when_it_cannot_reach_them(
    gadget, requester, manager, slack, committed
):
    manager.notification_channels = ["slack"]
    manager.save()
    slack.users["U0MANAGER"] = manager.email  # found by email: no Slack id on file
    with committed():
        submit(requester)
    assert list(Outbox.objects.values_list("channel", flat=True)) == ["slack"]
    [message] = slack.messages()
    assert message["channel"] == "U0MANAGER"
    assert mail.outbox == []

    Outbox.objects.all().delete()
    manager.notification_channels = ["teams"]  # Teams is not configured here
    manager.save()
    submit(requester)
    assert list(Outbox.objects.values_list("channel", flat=True)) == ["email"]


def test_a_claim_abandoned_by_a_dead_worker_is_sent_again_by_the_sweep(
    gadget, requester, manager, settings
):
    with transaction.atomic():
        submit(requester)  # written; the hand-off never happens (no commit here)
    row = Outbox.objects.get(kind="task_assigned")
    stale = timezone.now() - timedelta(seconds=settings.OUTBOX_STALE_SECONDS + 1)
    # A worker claimed it, then died before sending.
    Outbox.objects.filter(pk=row.pk).update(state="sending", claimed_at=stale, attempts=1)
    result = delivery.requeue()
    assert (result.reset, result.due, result.queued) == (1, 1, 1)
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 2
    assert len(mail.outbox) == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_transactions_writing_the_same_message_at_once_insert_it_once(
    requester, manager, admins_role
):
    from tests.notifications.flows import GADGET, publish

    publish(GADGET)
    request = submit(requester)
    task = open_task(request)
    Outbox.objects.all().delete()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with transaction.atomic():
                barrier.wait()
                notify(kind="task_reminder", request=request, task=task, recipients=[manager])
        except BaseException as exc:  # collected: none is expected
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []  # ON CONFLICT DO NOTHING: the losers skip, nothing raises
    assert Outbox.objects.filter(kind="task_reminder").count() == 1


def test_subscriptions_are_read_once_and_a_new_one_is_seen_at_once(
    gadget, requester, manager, receiver
):
    from django.test.utils import CaptureQueriesContext

    request = submit(requester)
    task = open_task(request)
    sent = iter(range(100))

    def remind() -> list[str]:
        """Queries of one reminder (each call its own message: a new dedup suffix)."""
        with CaptureQueriesContext(connection) as ctx, transaction.atomic():
            notify(kind="task_reminder", request=request, task=task, recipients=[manager],
                   extra={"dedup": f"r{next(sent)}"})
        return [q["sql"] for q in ctx.captured_queries]

    remind()  # reads the subscriptions (none yet)
    assert not any("webhooksubscription" in sql for sql in remind())
    subscribe(receiver)  # saved in this process: the cache is dropped at once
    assert any("webhooksubscription" in sql for sql in remind())
    assert Outbox.objects.filter(channel="webhook", kind="task_reminder").count() == 1


def test_one_batch_holds_only_the_messages_of_people_recently_messaged(
    gadget, requester, manager, grandboss, settings
):
    from approvals.notifications.notify import batch

    settings.NOTIFY_COLLAPSE_SECONDS = 60
    request = submit(requester)
    task = open_task(request)
    sent_at = timezone.now() - timedelta(seconds=20)
    Outbox.objects.filter(recipient=manager).update(state="sent", sent_at=sent_at)
    with transaction.atomic(), batch():
        notify(kind="task_reminder", request=request, task=task, recipients=[manager, grandboss])
        notify(kind="comment_added", request=request, recipients=[grandboss],
               extra={"dedup": "c1"})
    held = Outbox.objects.get(kind="task_reminder", recipient=manager)
    assert held.next_attempt_at == sent_at + timedelta(seconds=60)  # waits for the window
    for row in Outbox.objects.filter(recipient=grandboss):
        assert row.next_attempt_at < sent_at + timedelta(seconds=60)  # goes out now
