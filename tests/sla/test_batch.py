"""The sweep's batches write exactly what the engine writes one task at a time.

``services.sla_act_many`` (reminders and escalations of many requests at once) and
``services.sla_act`` (one task) must leave the same task rows, audit events and
outbox rows. Each comparison runs the batch inside a savepoint that is rolled back,
then the one-at-a-time path on the same data, and compares what each wrote. What
differs by nature (ids of new rows, times of writing, event ids and so hashes) is
relabelled or checked on its own (the chains must still link and verify).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import services, sla
from approvals.models import Request, Task
from approvals.notifications.models import NotificationPreference, Outbox, WebhookSubscription
from audit.hashing import compute_hash
from audit.models import AuditEvent
from orgchart.models import Absence, Person
from tests.conftest import postgres_only
from tests.factories import PersonFactory, RoleFactory, add_members, side_effects
from tests.notifications.flows import GADGET, STRICT, publish, submit

pytestmark = pytest.mark.django_db

PANEL = """
workflow: panel
title: Panel review
inputs:
  amount: {type: money, required: true, min: 0}
  vendor: {type: string}
steps:
  - id: panel
    type: parallel
    approvers: panel
    quorum: all
    sla: {due: 1h, remind_at: 50%, escalate_at: 100%}
"""


@pytest.fixture
def world(settings, admins_role, requester, manager, grandboss, delegate):
    """Requests with every kind of bulk work due at ``now``: reminders (one to a
    person who wants a digest, one held by the collapse window, one over two
    channels; one whose next rung is the automatic action, one with none left),
    escalations (to an away manager, so to their delegate; one with no manager above,
    so to the fallback role), a request with two tasks escalating at once, and a task
    whose clock is behind with nothing due (corrected). A webhook subscription wants
    every kind."""
    settings.SLACK_WEBHOOK_URL = "https://hooks.slack.test/x"
    panel = add_members(
        RoleFactory(name="panel"),
        PersonFactory(username="pat", manager=grandboss),
        PersonFactory(username="pam", manager=grandboss, notification_channels=["slack", "email"]),
    )
    for source in (STRICT, GADGET, PANEL):
        publish(source)
    now = timezone.now() + timedelta(minutes=61)
    Absence.objects.create(
        person=grandboss,
        delegate=delegate,
        start=now - timedelta(days=1),
        end=now + timedelta(days=1),
    )
    NotificationPreference.objects.create(person=manager, reminder_digest=True)
    WebhookSubscription.objects.create(name="erp", url="https://erp.test/hook")
    boss_asks = PersonFactory(username="boss_asks", manager=delegate)
    # Reports to the top of a chart: escalating its task finds no manager above.
    asks_top = PersonFactory(username="asks_top", manager=PersonFactory(username="top"))

    remind = [submit(requester, "strict"), submit(requester, "gadget"), submit(boss_asks, "gadget")]
    for request in remind:
        Task.objects.filter(request=request).update(
            remind_at=now - timedelta(minutes=1),
            escalate_at=now + timedelta(hours=1),
            sla_next_at=now - timedelta(minutes=1),
        )
    then_auto, last = submit(requester, "strict"), submit(requester, "gadget")
    Task.objects.filter(request__in=[then_auto, last]).update(
        remind_at=now - timedelta(minutes=1),
        escalate_at=None,
        sla_next_at=now - timedelta(minutes=1),
    )
    behind = submit(requester, "gadget")
    Task.objects.filter(request=behind).update(
        remind_at=now + timedelta(minutes=5),
        escalate_at=now + timedelta(hours=1),
        sla_next_at=now - timedelta(minutes=1),
    )
    remind += [then_auto, last, behind]
    escalate = [submit(requester, "strict"), submit(requester, "panel"), submit(asks_top, "strict")]
    Task.objects.filter(request__in=escalate).update(reminded_at=now - timedelta(minutes=30))
    # The reminder to the manager about the first request is held: one went out just now.
    first = remind[0]
    Outbox.objects.create(
        dedup_key="earlier",
        kind="task_assigned",
        channel="email",
        recipient=manager,
        request=first,
        state="sent",
        sent_at=timezone.now(),
        next_attempt_at=timezone.now(),
    )
    assert panel.memberships.count() == 2
    return {"now": now, "requests": remind + escalate}


def written(requests: list[Request], before: dict[str, Any]) -> dict[str, Any]:
    """What was written since ``before`` (see ``state``), with new task ids relabelled."""
    ids = [r.pk for r in requests]
    tasks = list(Task.objects.filter(request_id__in=ids).order_by("pk"))
    label = {t.pk: f"t{t.pk}" for t in tasks if t.pk in before["tasks"]}
    label.update((t.pk, f"new{n}") for n, t in enumerate(t for t in tasks if t.pk not in label))

    def relabel_key(key: str) -> str:
        for pk, name in label.items():
            key = key.replace(f":t{pk}:", f":{name}:")
        return key

    task_rows = [
        (
            label[t.pk],
            t.request_id,
            t.step_id,
            t.round,
            t.assignee.username,
            t.on_behalf_of.username if t.on_behalf_of else None,
            t.delegation_chain,
            t.resolution,
            t.role,
            label.get(t.replaces_id),
            t.state,
            t.decided_at,
            t.due_at,
            t.remind_at,
            t.escalate_at,
            t.auto_action_at,
            t.reminded_at,
            t.sla_next_at,
        )
        for t in tasks
    ]
    events = []
    for chain_events in _new_events(ids, before["heads"]).values():
        for e in chain_events:
            payload = dict(e.payload)
            for key in ("task", "from_task"):
                if key in payload:
                    payload[key] = label[payload[key]]
            snapshot = dict(e.snapshot)
            snapshot["tasks"] = [{**t, "id": label[t["id"]]} for t in snapshot["tasks"]]
            events.append(
                (
                    e.chain,
                    e.seq,
                    e.event_type,
                    e.actor,
                    payload,
                    snapshot,
                    e.inputs,
                    e.workflow_key,
                    e.workflow_version,
                    e.imported,
                )
            )
    rows = []
    for row in Outbox.objects.exclude(pk__in=before["outbox"]).order_by("pk"):
        payload = dict(row.payload)
        payload.pop("occurred_at")
        if payload["task"]:
            payload["task"] = {**payload["task"], "id": label[payload["task"]["id"]], "url": ""}
        held = row.next_attempt_at > row.created_at + timedelta(seconds=5)
        rows.append(
            (
                relabel_key(row.dedup_key),
                row.kind,
                row.channel,
                row.state,
                row.recipient_id,
                row.subscription_id,
                row.request_id,
                label.get(row.task_id),
                payload,
                row.next_attempt_at if held else "now",
            )
        )
    return {"tasks": task_rows, "events": events, "outbox": rows}


def state(requests: list[Request]) -> dict[str, Any]:
    ids = [r.pk for r in requests]
    heads = {}
    for e in AuditEvent.objects.filter(request_id__in=ids).order_by("seq"):
        heads[e.chain] = (e.seq, e.hash)
    return {
        "tasks": set(Task.objects.filter(request_id__in=ids).values_list("pk", flat=True)),
        "heads": heads,
        "outbox": set(Outbox.objects.values_list("pk", flat=True)),
    }


def _new_events(ids: list[int], heads: dict[str, tuple[int, str]]) -> dict[str, list[AuditEvent]]:
    """The events appended since ``heads``, per chain, checked to link on and verify."""
    chains: dict[str, list[AuditEvent]] = {}
    for e in AuditEvent.objects.filter(request_id__in=ids).order_by("chain", "seq"):
        if e.seq > heads[e.chain][0]:
            chains.setdefault(e.chain, []).append(e)
    for chain, events in chains.items():
        seq, prev = heads[chain]
        for e in events:
            assert (e.seq, e.prev_hash) == (seq + 1, prev)
            assert e.hash == compute_hash(e)
            seq, prev = e.seq, e.hash
    return chains


def due_in_sweep_order(requests: list[Request], now) -> list[int]:
    ids = [r.pk for r in requests]
    return list(sla.due_tasks(now).filter(request_id__in=ids).values_list("pk", flat=True))


def both_paths(requests: list[Request], now) -> tuple[Any, dict, dict, dict]:
    """The batch path (rolled back), then the one-task path, from the same state:
    (the batch, what it wrote, what each sla_act did, what those wrote)."""
    before = state(requests)
    with transaction.atomic():
        batch = services.sla_act_many(request_ids=[r.pk for r in requests], now=now)
        in_bulk = written(requests, before)
        transaction.set_rollback(True)
    assert state(requests) == before

    acted = {}
    for task_id in due_in_sweep_order(requests, now):
        acted[task_id] = services.sla_act(task_id=task_id, now=now)
    return batch, in_bulk, acted, written(requests, before)


def test_a_batch_writes_what_one_task_at_a_time_writes(world):
    requests, now = world["requests"], world["now"]
    batch, in_bulk, acted, one_by_one = both_paths(requests, now)

    assert batch.acted == {task: actions for task, actions in acted.items() if actions}
    assert sorted(acted.values()) == [[]] + [["escalated"]] * 4 + [["reminded"]] * 5
    assert batch.one_by_one == [] and batch.left_due == set()
    assert in_bulk["tasks"] == one_by_one["tasks"]
    assert in_bulk["events"] == one_by_one["events"]
    assert in_bulk["outbox"] == one_by_one["outbox"]
    # The cases the world was made for did occur.
    rows = one_by_one["outbox"]
    # Due now: written queued (the hand-off after commit takes them); or held for a digest.
    assert {r[3] for r in rows} == {"queued", "digest"}
    assert any(r[-1] != "now" for r in rows)  # held by the collapse window
    assert {r[2] for r in rows} == {"email", "slack", "webhook"}
    payloads = [e[4] for e in one_by_one["events"] if e[2] == "task_escalated"]
    assert any(p["fallback"] for p in payloads) and any(p["on_behalf_of"] for p in payloads)


def away(person: Person, delegate: Person, **extra: Any) -> Absence:
    """Away now (resolution reads the absences of the moment it runs), handing over."""
    moment = timezone.now()
    return Absence.objects.create(
        person=person,
        delegate=delegate,
        start=moment - timedelta(days=1),
        end=moment + timedelta(days=1),
        **extra,
    )


def escalation_due(requests: list[Request], now) -> None:
    Task.objects.filter(request__in=requests, state="open").update(
        reminded_at=now - timedelta(hours=1),
        escalate_at=now - timedelta(minutes=1),
        sla_next_at=now - timedelta(minutes=1),
    )


# Escalations to other people than the manager of the approver.
REVIEW = """
workflow: review
title: Review
inputs:
  reviewer: {type: user, required: true}
  boss: {type: user, required: true}
steps:
  - id: review
    approver: "{{ inputs.reviewer }}"
    sla: {due: 1h, escalate_at: 100%, escalate_to: "{{ inputs.boss }}"}
"""


def escalating_to(workflow: str, target: str) -> str:
    """A recipe whose one step, assigned to the requester's manager, escalates to ``target``."""
    return f"""
workflow: {workflow}
title: Escalates to {target}
inputs:
  amount: {{type: money, required: true, min: 0}}
  vendor: {{type: string}}
steps:
  - id: manager
    approver: "{{{{ requester.manager }}}}"
    sla: {{due: 1h, escalate_at: 100%, escalate_to: "{target}"}}
"""


@pytest.fixture
def tangle(settings, admins_role, grandboss):
    """Escalations whose targets take every path of resolution: a delegation chain,
    a cycle and a chain too deep (both to the fallback role, whose round robin turns),
    a manager who has left, nobody above, a delegate who is the requester, an absence
    for other workflows only, the requester named as the target, two levels up, a
    role (round robin, one member away), a person named (away) and nobody named."""
    settings.APPROVALS = {**settings.APPROVALS, "MAX_DELEGATION_HOPS": 2}
    add_members(admins_role, PersonFactory(username="admin2", manager=grandboss))
    people: dict[str, Person] = {}

    def person(name: str, manager: str | None = None, **extra: Any) -> Person:
        people[name] = PersonFactory(
            username=name, manager=people[manager] if manager else None, **extra
        )
        return people[name]

    for name in ("a1", "a2", "a3", "c1", "c2", "d0", "d1", "d2", "d3", "hd", "own_t", "u", "vd"):
        person(name)
    away(people["a1"], people["a2"])
    away(people["a2"], people["a3"])
    away(people["c1"], people["c2"])
    away(people["c2"], people["c1"])
    for hop in range(3):
        away(people[f"d{hop}"], people[f"d{hop + 1}"])
    person("h")
    away(people["h"], people["hd"])
    person("g", "h", is_active=False)
    away(people["u"], people["vd"], workflows=["leave"])
    person("p2")
    away(people["p2"], people["vd"])
    person("p1", "p2")
    panel = add_members(RoleFactory(name="panel"), person("pat"), person("pam"))
    away(people["pam"], people["vd"])
    assert panel.memberships.count() == 2
    publish(GADGET)
    publish(REVIEW)
    publish(escalating_to("higher", "{{ approver.manager.manager }}"))
    publish(escalating_to("to_panel", "panel"))
    publish(escalating_to("to_a1", "user:a1"))
    publish(escalating_to("to_nobody", "user:nobody"))

    def asks(case: str, target: str | None, workflow: str = "gadget") -> Request:
        approver = person(f"{case}_approver", target)
        return submit(person(f"{case}_asks", approver.username), workflow)

    requests = [
        asks("chain", "a1"),
        asks("cycle", "c1"),
        asks("deep", "d0"),
        asks("left", "g"),
        asks("top", None),
        asks("other", "u"),
        asks("higher", "p1", "higher"),
        asks("panel1", "a3", "to_panel"),
        asks("panel2", "a3", "to_panel"),
        asks("panel3", "a3", "to_panel"),
        asks("to_a1", "a3", "to_a1"),
        asks("to_nobody", "a3", "to_nobody"),
    ]
    # The delegate of the target is the requester: the work goes up the requester's line.
    own_approver = person("own_approver", "own_t")
    own = person("own_asks", "own_approver")
    away(people["own_t"], own)
    requests.append(submit(own, "gadget"))
    requests.append(submit(person("own_r", "own_approver"), "gadget"))
    # The requester is the target named: their manager acts.
    requests.append(
        services.submit(
            workflow_key="review",
            requester=own_approver,
            inputs={"reviewer": "a3", "boss": "own_approver"},
            title="Review",
        )
    )
    now = timezone.now()
    escalation_due(requests, now)
    return {"now": now, "requests": requests}


def test_escalations_through_absences_and_fallbacks_write_what_one_at_a_time_writes(tangle):
    requests, now = tangle["requests"], tangle["now"]
    batch, in_bulk, acted, one_by_one = both_paths(requests, now)

    assert batch.acted == acted
    assert sorted(acted.values()) == [["escalated"]] * len(requests)
    assert in_bulk == one_by_one
    # The paths the tangle was made for were taken.
    escalated = [e[4] for e in one_by_one["events"] if e[2] == "task_escalated"]
    errors = sorted(p["fallback"]["error"] for p in escalated if p["fallback"])
    assert errors == ["delegation_cycle", "delegation_too_deep", "no_approver", "no_approver"]
    fallback_to = [p["assignee"] for p in escalated if p["fallback"]]
    assert set(fallback_to) == {"admin2", "grandboss"}  # round robin turned
    notes = " | ".join(n for t in one_by_one["tasks"] for n in (t[7] or {}).get("notes", []))
    for said in (
        "a1 is away until",
        "a2 is away until",
        "g has left; their manager h acts",
        "h is away until",
        "own_t is away until",
        "is the requester, so",
        "own_approver is the requester and may not approve",
        "pam is away until",
        "p2 is away until",
    ):
        assert said in notes, said
    assignees = {p["assignee"] for p in escalated}
    assert {"a3", "u", "pat", "vd", "hd"} <= assignees


def test_the_batch_hands_its_rows_to_celery_once_after_commit(
    world, django_capture_on_commit_callbacks
):
    requests, now = world["requests"], world["now"]
    earlier = set(Outbox.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks() as callbacks:
        services.sla_act_many(request_ids=[r.pk for r in requests], now=now)
    [after_commit] = side_effects(callbacks)
    new = Outbox.objects.exclude(pk__in=earlier)
    [job] = after_commit.args  # given to the hand-off thread: enqueue_written(rows, …)
    handed = {pk for pk, _ in job.args[0]}
    assert handed == set(new.exclude(state="digest").values_list("pk", flat=True))
    assert new.filter(state="digest").exists()


def test_an_automatic_action_is_left_to_the_engine_one_task_at_a_time(strict, requester, manager):
    auto, reminder = submit(requester, "strict"), submit(requester, "strict")
    now = auto.created_at + timedelta(minutes=91)
    Task.objects.filter(request=reminder).update(
        escalate_at=now + timedelta(hours=1), auto_action_at=None
    )
    batch = services.sla_act_many(request_ids=[auto.pk, reminder.pk], now=now)
    auto_task = Task.objects.get(request=auto)
    assert batch.one_by_one == [auto_task.pk]
    assert auto_task.state == "open"
    assert not AuditEvent.objects.filter(request_id=auto.pk, actor__via="sla").exists()
    assert list(batch.acted.values()) == [["reminded"]]

    result = sla.sweep(now=now)
    assert result.counts == {"auto_reject": 1}
    auto.refresh_from_db()
    assert auto.state == "rejected"


def test_a_task_left_due_is_not_tried_again_in_the_same_pass(requester, manager):
    """A rung no recipe acts on (an auto_action_at without an auto_action) stays due
    after the reminder; the pass must not claim it again and again until max_batches."""
    publish(GADGET)
    request = submit(requester, "gadget")
    now = request.created_at + timedelta(minutes=31)
    Task.objects.filter(request=request).update(auto_action_at=now - timedelta(minutes=1))
    result = sla.sweep(now=now, batch_size=1, max_batches=10)
    assert result.counts == {"reminded": 1}
    assert result.batches == 1
    assert sla.due_tasks(now).filter(request=request).exists()


def reminders_due(requester, n: int):
    requests = [submit(requester, "strict") for _ in range(n)]
    return requests, requests[-1].created_at + timedelta(minutes=31)


def queries_of_a_batch(requests, now) -> int:
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        batch = services.sla_act_many(request_ids=[r.pk for r in requests], now=now)
        transaction.set_rollback(True)
    assert len(batch.acted) == len(requests)
    return sum(1 for q in queries.captured_queries if "SAVEPOINT" not in q["sql"])


def test_reminders_cost_the_same_queries_for_3_tasks_or_12(strict, requester, manager):
    few, now = reminders_due(requester, 3)
    many = [*few, *reminders_due(requester, 9)[0]]
    assert queries_of_a_batch(few, now) == queries_of_a_batch(many, now) <= 12


def tangled_escalations(tag: str, n: int, now) -> list[Request]:
    """``n`` escalations due, each to a manager of its own who is away: half of them
    delegate along a chain of two hops (everyone away, to people of their own), the
    other half into a cycle, which goes to the fallback role."""
    requests = []
    for i in range(n):
        target = PersonFactory(username=f"{tag}{i}_target")
        first, second = (PersonFactory(username=f"{tag}{i}_d{k}") for k in (1, 2))
        away(target, first)
        away(first, second if i % 2 else target)
        approver = PersonFactory(username=f"{tag}{i}_approver", manager=target)
        requests.append(submit(PersonFactory(username=f"{tag}{i}_asks", manager=approver)))
    escalation_due(requests, now)
    return requests


def test_escalations_cost_the_same_queries_for_4_tasks_or_12(admins_role):
    """The org chart is read for the whole batch (people, absences, delegates, link
    by link), not per escalation. Round robin over the fallback role moves its
    cursor once per pick by design: one statement each (on a connection of its own
    outside tests), counted apart."""
    publish(GADGET)
    now = timezone.now()
    few = tangled_escalations("few", 4, now)
    many = [*few, *tangled_escalations("many", 8, now)]

    def counted(requests: list[Request]) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            batch = services.sla_act_many(request_ids=[r.pk for r in requests], now=now)
            transaction.set_rollback(True)
        assert sorted(batch.acted.values()) == [["escalated"]] * len(requests)
        sql = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        cursor_moves = sum(1 for q in sql if "orgchart_rolecursor" in q)
        return len(sql) - cursor_moves, cursor_moves

    (queries, picks), (queries_of_many, picks_of_many) = counted(few), counted(many)
    assert queries == queries_of_many
    assert (picks, picks_of_many) == (2, 6)  # the cycles


def test_the_claim_takes_the_first_due_requests_in_due_order(strict, requester, manager):
    requests, now = reminders_due(requester, 4)
    Task.objects.filter(request=requests[0]).update(sla_next_at=now - timedelta(minutes=5))
    Task.objects.filter(request=requests[3]).update(sla_next_at=now - timedelta(minutes=4))
    with transaction.atomic():
        claimed = sla.claim(now, 2)
    assert claimed == sorted([requests[0].pk, requests[3].pk])
    with transaction.atomic():
        assert sla.claim(
            now,
            2,
            skip=set(
                Task.objects.filter(request__in=[requests[0], requests[3]]).values_list(
                    "pk", flat=True
                )
            ),
        ) == sorted([requests[1].pk, requests[2].pk])


@postgres_only
def test_the_claim_reads_the_due_index_in_order_and_puts_the_planner_back():
    """The planner expects few due rows and would bitmap-scan and sort every due task
    for each batch; inside the claim it must walk task_sla_due in order instead."""

    def bitmap_scans() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_bitmapscan")
            return cursor.fetchone()[0]

    with transaction.atomic():
        with sla.in_due_order():
            assert bitmap_scans() == "off"
            plan = sla.first_due(timezone.now(), 100).explain()
        assert bitmap_scans() == "on"
    assert "Bitmap" not in plan
