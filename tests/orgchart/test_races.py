"""Races the org chart claims to handle, run for real on PostgreSQL with threads:
round robin stays fair under concurrent requests, and two overlapping absences
saved at once cannot both land."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from approvals.recipes.schema import ApproverRef
from orgchart.errors import OrgChartError
from orgchart.models import Absence, RoleCursor
from orgchart.resolution import resolve
from orgchart.services import absence_create
from tests.conftest import postgres_only
from tests.factories import PersonFactory, RoleFactory, add_members

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def race(workers: int, work) -> list:
    """Run ``work`` in ``workers`` threads released at the same moment."""
    gate = threading.Barrier(workers)
    results: list = []
    lock = threading.Lock()

    def run() -> None:
        try:
            gate.wait()
            outcome = work()
        except Exception as exc:  # collected and inspected by the test
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_picks_rotate_fairly_through_a_role():
    boss = PersonFactory(username="boss")
    requester = PersonFactory(username="req", manager=boss)
    members = [PersonFactory(username=f"m{i}") for i in range(4)]
    role = add_members(RoleFactory(name="pool"), *members)
    ref = ApproverRef(kind="role", raw="pool", value="pool")

    def pick() -> str:
        with transaction.atomic():
            return resolve(ref, requester=requester)[0].assignee.username

    results = race(12, pick)
    assert all(isinstance(r, str) for r in results), results
    assert Counter(results) == {"m0": 3, "m1": 3, "m2": 3, "m3": 3}
    assert RoleCursor.objects.get(role=role).position == 12


def test_two_overlapping_absences_saved_at_once_cannot_both_land():
    person = PersonFactory(username="away")
    substitutes = [PersonFactory(username=f"sub{i}") for i in range(6)]
    now = timezone.now()
    turn = iter(range(6))
    turn_lock = threading.Lock()

    def create() -> object:
        with turn_lock:
            i = next(turn)
        return absence_create(
            person=person,
            start=now + timedelta(hours=i),
            end=now + timedelta(days=3),
            delegate=substitutes[i],
        )

    results = race(6, create)
    landed = [r for r in results if isinstance(r, Absence)]
    refused = [r for r in results if isinstance(r, OrgChartError)]
    assert len(landed) == 1, results
    assert len(refused) == 5
    assert Absence.objects.filter(person=person).count() == 1


def test_a_pick_does_not_wait_for_the_commit_of_another_transaction_that_picked():
    requester = PersonFactory(username="req")
    members = [PersonFactory(username=f"m{i}") for i in range(3)]
    role = add_members(RoleFactory(name="pool"), *members)
    ref = ApproverRef(kind="role", raw="pool", value="pool")
    other: list[str] = []

    def pick_elsewhere() -> None:
        try:
            with transaction.atomic():
                other.append(resolve(ref, requester=requester)[0].assignee.username)
        finally:
            connection.close()

    with transaction.atomic():
        mine = resolve(ref, requester=requester)[0].assignee.username
        # Still inside this transaction: the cursor row is not held by it.
        thread = threading.Thread(target=pick_elsewhere)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the second pick waited for the first transaction"
    assert (mine, other) == ("m0", ["m1"])
    assert RoleCursor.objects.get(role=role).position == 2


def test_a_pick_in_a_transaction_that_rolls_back_passes_a_turn_over():
    requester = PersonFactory(username="req")
    members = [PersonFactory(username=f"m{i}") for i in range(3)]
    role = add_members(RoleFactory(name="pool"), *members)
    ref = ApproverRef(kind="role", raw="pool", value="pool")

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        assert resolve(ref, requester=requester)[0].assignee.username == "m0"
        raise Undo
    with transaction.atomic():
        assert resolve(ref, requester=requester)[0].assignee.username == "m1"
    assert RoleCursor.objects.get(role=role).position == 2


def test_picks_go_on_in_the_transaction_when_the_own_connection_fails(monkeypatch):
    from django.db import OperationalError, connections

    from orgchart import resolution

    requester = PersonFactory(username="req")
    members = [PersonFactory(username=f"m{i}") for i in range(2)]
    role = add_members(RoleFactory(name="pool"), *members)
    ref = ApproverRef(kind="role", raw="pool", value="pool")

    def refuse(alias):
        raise OperationalError("no more connections")

    resolution.close_own_connections()
    monkeypatch.setattr(resolution._own_connection, "wrapper", None)
    monkeypatch.setattr(connections, "create_connection", refuse)
    with transaction.atomic():
        picked = [resolve(ref, requester=requester)[0].assignee.username for _ in range(3)]
    assert picked == ["m0", "m1", "m0"]
    assert RoleCursor.objects.get(role=role).position == 3
