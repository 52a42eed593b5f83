"""Approver resolution, rule by rule, with the personas of tests/conftest.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from approvals.recipes.schema import ApproverRef
from orgchart.models import Absence, Person, RoleCursor
from orgchart.resolution import (
    DelegationCycle,
    DelegationTooDeep,
    NoApprover,
    describe,
    resolve,
    resolve_fallback,
)
from tests.factories import PersonFactory, RoleFactory, add_members

MANAGER = ApproverRef(kind="requester_manager", raw="{{ requester.manager }}", depth=1)


def user(username: str) -> ApproverRef:
    return ApproverRef(kind="user", raw=f"user:{username}", value=username)


def role(name: str) -> ApproverRef:
    return ApproverRef(kind="role", raw=name, value=name)


def away(person: Person, delegate: Person, *, days: int = 10, **extra) -> Absence:
    now = timezone.now()
    return Absence.objects.create(
        person=person,
        delegate=delegate,
        start=now - timedelta(days=1),
        end=now + timedelta(days=days),
        **extra,
    )


def chain_of(n: int, first: Person) -> list[Person]:
    """first -> p1 -> ... -> pn, each away and handing over to the next."""
    people = [first]
    for i in range(n):
        nxt = PersonFactory(username=f"hop{i + 1}", name=f"Hop {i + 1}")
        away(people[-1], nxt)
        people.append(nxt)
    return people


def test_requester_manager_approves(requester, manager):
    [a] = resolve(MANAGER, requester=requester)
    assert a.assignee == manager
    assert a.meant_for == manager
    assert a.chain == ("manager",)
    assert a.on_behalf_of is None
    assert describe(a) == "Bob Manager"


def test_manager_of_manager_is_depth_two(requester, grandboss):
    ref = ApproverRef(kind="requester_manager", raw="{{ requester.manager.manager }}", depth=2)
    [a] = resolve(ref, requester=requester)
    assert a.assignee == grandboss


def test_nobody_above_the_top_is_no_approver(grandboss):
    with pytest.raises(NoApprover):
        resolve(MANAGER, requester=grandboss)


def test_approver_manager_starts_from_the_approver(requester, manager, grandboss):
    ref = ApproverRef(kind="approver_manager", raw="{{ approver.manager }}", depth=1)
    [a] = resolve(ref, requester=requester, approver=manager)
    assert a.assignee == grandboss
    with pytest.raises(NoApprover):
        resolve(ref, requester=requester)


def test_input_reference_names_a_person(requester, outsider):
    ref = ApproverRef(kind="input", raw="{{ inputs.buddy }}", value="buddy")
    [a] = resolve(ref, requester=requester, inputs={"buddy": "outsider"})
    assert a.assignee == outsider
    with pytest.raises(NoApprover, match="nobody named 'ghost'"):
        resolve(ref, requester=requester, inputs={"buddy": "ghost"})
    with pytest.raises(NoApprover):
        resolve(ref, requester=requester, inputs={})


def test_unknown_user_is_no_approver(requester):
    with pytest.raises(NoApprover):
        resolve(user("nobody"), requester=requester)


def test_three_hop_delegation_chain_is_followed_and_described(requester, manager):
    people = chain_of(3, manager)
    [a] = resolve(MANAGER, requester=requester)
    assert a.assignee == people[-1]
    assert a.meant_for == manager
    assert a.chain == ("manager", "hop1", "hop2", "hop3")
    assert a.on_behalf_of == manager
    assert len(a.notes) == 3
    assert a.notes[0].startswith("manager is away until")
    assert a.notes[0].endswith("hop1 acts")
    assert describe(a) == "Hop 3, on behalf of Bob Manager, via Hop 1 and Hop 2"


def test_one_hop_reads_dave_on_behalf_of_bob(requester, manager, delegate):
    away(manager, delegate)
    [a] = resolve(MANAGER, requester=requester)
    assert describe(a) == "Carol Delegate, on behalf of Bob Manager"


def test_two_hops_read_via(requester):
    bob = PersonFactory(username="bob", name="Bob")
    carol = PersonFactory(username="carol", name="Carol")
    dave = PersonFactory(username="dave", name="Dave")
    away(bob, carol)
    away(carol, dave)
    [a] = resolve(user("bob"), requester=requester)
    assert describe(a) == "Dave, on behalf of Bob, via Carol"


def test_five_hops_are_allowed_six_are_too_deep(requester, manager):
    people = chain_of(5, manager)
    [a] = resolve(MANAGER, requester=requester)
    assert a.assignee == people[-1]
    away(people[-1], PersonFactory(username="hop6"))
    with pytest.raises(DelegationTooDeep) as caught:
        resolve(MANAGER, requester=requester)
    assert caught.value.chain == ("manager", "hop1", "hop2", "hop3", "hop4", "hop5", "hop6")
    assert caught.value.code == "delegation_too_deep"


def test_a_delegation_cycle_is_named(requester, manager, delegate):
    away(manager, delegate)
    away(delegate, manager)
    with pytest.raises(DelegationCycle) as caught:
        resolve(MANAGER, requester=requester)
    assert caught.value.chain == ("manager", "delegate", "manager")
    assert "manager -> delegate -> manager" in str(caught.value)


def test_a_departed_approver_is_replaced_by_their_manager(requester, manager, grandboss):
    manager.is_active = False
    manager.save()
    [a] = resolve(MANAGER, requester=requester)
    assert a.assignee == grandboss
    assert a.meant_for == manager
    assert a.chain == ("manager", "grandboss")
    assert a.notes == ("manager has left; their manager grandboss acts",)


def test_departed_managers_are_skipped_repeatedly(requester, manager, grandboss):
    ceo = PersonFactory(username="ceo")
    grandboss.manager = ceo
    grandboss.save()
    for p in (manager, grandboss):
        p.is_active = False
        p.save()
    [a] = resolve(MANAGER, requester=requester)
    assert a.assignee == ceo
    assert a.chain == ("manager", "grandboss", "ceo")


def test_departed_person_without_manager_is_no_approver(requester, grandboss):
    grandboss.is_active = False
    grandboss.save()
    with pytest.raises(NoApprover):
        resolve(user("grandboss"), requester=requester)


def test_a_departed_delegate_is_replaced_by_their_manager(requester, manager, delegate, grandboss):
    away(manager, delegate)
    delegate.is_active = False
    delegate.save()
    [a] = resolve(MANAGER, requester=requester)
    assert a.chain == ("manager", "delegate", "grandboss")
    assert a.assignee == grandboss


def test_requester_named_directly_goes_to_their_manager(requester, manager):
    [a] = resolve(user("requester"), requester=requester)
    assert a.assignee == manager
    assert a.meant_for == requester
    assert "may not approve their own request" in a.notes[0]


def test_self_approval_in_a_manager_chain(requester, manager, grandboss):
    """The manager is away and hands over to the requester: the requester is
    passed over and the manager's manager acts for the manager."""
    away(manager, requester)
    [a] = resolve(MANAGER, requester=requester)
    assert a.assignee == grandboss
    assert a.meant_for == manager
    assert a.chain == ("manager", "grandboss")
    assert "requester" in a.notes[0]


def test_self_approval_when_the_requester_heads_the_chart(grandboss):
    """Nobody above the requester: no approver, so the engine routes to the fallback."""
    with pytest.raises(NoApprover):
        resolve(user("grandboss"), requester=grandboss)


def test_self_approval_in_a_role_skips_the_requester(requester, finance):
    frank = Person.objects.get(username="frank")
    add_members(finance, requester)  # members by username: fiona, frank, requester
    picks = [resolve(role("finance-approvers"), requester=requester)[0] for _ in range(4)]
    assert requester not in [p.assignee for p in picks]
    assert {p.assignee for p in picks} == {frank, Person.objects.get(username="fiona")}
    assert all(p.role == "finance-approvers" for p in picks)


def test_self_approval_in_a_role_of_one_goes_to_the_requester_manager(requester, manager):
    add_members(RoleFactory(name="solo"), requester)
    [a] = resolve(role("solo"), requester=requester)
    assert a.assignee == manager
    assert a.meant_for == requester
    [b] = resolve(role("solo"), requester=requester, every_member=True)
    assert b.assignee == manager


def test_an_empty_role_is_no_approver(requester):
    RoleFactory(name="empty")
    with pytest.raises(NoApprover, match="no members"):
        resolve(role("empty"), requester=requester)
    with pytest.raises(NoApprover, match="no role named"):
        resolve(role("missing"), requester=requester)


def test_round_robin_rotates_and_persists(requester, finance):
    picked = [
        resolve(role("finance-approvers"), requester=requester)[0].assignee.username
        for _ in range(4)
    ]
    assert picked == ["fiona", "frank", "fiona", "frank"]
    assert RoleCursor.objects.get(role=finance).position == 4


def test_peeking_does_not_move_the_cursor(requester, finance):
    first = resolve(role("finance-approvers"), requester=requester, advance=False)[0]
    again = resolve(role("finance-approvers"), requester=requester, advance=False)[0]
    assert first.assignee == again.assignee
    assert not RoleCursor.objects.filter(role=finance, position__gt=0).exists()


def test_every_member_gets_an_assignment_except_the_requester(requester, finance):
    add_members(finance, requester)
    found = resolve(role("finance-approvers"), requester=requester, every_member=True)
    assert [a.assignee.username for a in found] == ["fiona", "frank"]


def test_every_member_costs_the_same_queries_for_any_size(
    requester, finance, django_assert_max_num_queries
):
    for i in range(20):
        member = PersonFactory(username=f"fin{i:02}")
        add_members(finance, member)
        if i % 3 == 0:
            away(member, PersonFactory(username=f"sub{i:02}"))
    with django_assert_max_num_queries(6):
        found = resolve(role("finance-approvers"), requester=requester, every_member=True)
    assert len(found) == 22


def test_resolving_the_manager_is_a_handful_of_queries(
    requester, manager, delegate, django_assert_max_num_queries
):
    away(manager, delegate)
    with django_assert_max_num_queries(4):
        resolve(MANAGER, requester=requester)


def test_an_absence_limited_to_other_workflows_does_not_delegate(requester, manager, delegate):
    away(manager, delegate, workflows=["leave_request"])
    [a] = resolve(MANAGER, requester=requester, workflow_key="purchase_order")
    assert a.assignee == manager
    [b] = resolve(MANAGER, requester=requester, workflow_key="leave_request")
    assert b.assignee == delegate


def test_an_absence_without_delegate_or_not_yet_started_keeps_the_person(
    requester, manager, delegate
):
    now = timezone.now()
    Absence.objects.create(person=manager, start=now - timedelta(days=1), end=now + timedelta(1))
    Absence.objects.create(
        person=manager, delegate=delegate, start=now + timedelta(days=2), end=now + timedelta(3)
    )
    [a] = resolve(MANAGER, requester=requester)
    assert a.assignee == manager
    [later] = resolve(MANAGER, requester=requester, at=now + timedelta(days=2, hours=1))
    assert later.assignee == delegate  # the chart as of then: away, with a delegate


@pytest.fixture
def history_noise(db):
    """Extra history rows, so history ids differ from people's ids (a query that
    confused the two would pass on a fresh SQLite database by luck)."""
    noisy = PersonFactory(username="noisy")
    for title in ("a", "b", "c"):
        noisy.title = title
        noisy.save()


def test_resolution_as_of_a_past_time_uses_the_chart_of_then(
    history_noise, requester, manager, outsider
):
    with time_machine.travel(timezone.now() - timedelta(days=30), tick=True):
        requester.refresh_from_db()
        requester.save()  # a history row 30 days ago, under the old manager
    before_change = timezone.now()
    with time_machine.travel(before_change + timedelta(seconds=5), tick=True):
        requester.manager = outsider
        requester.save()
    [now] = resolve(MANAGER, requester=requester)
    [then] = resolve(MANAGER, requester=requester, at=before_change)
    assert now.assignee == outsider
    assert then.assignee == manager


def test_past_activity_absences_and_memberships_come_from_history(
    history_noise, requester, manager, delegate, grandboss, finance
):
    t0 = timezone.now()
    with time_machine.travel(t0 + timedelta(minutes=1), tick=True):
        manager.is_active = False
        manager.save()
        frank = Person.objects.get(username="frank")
        finance.memberships.filter(person=frank).delete()
    # Now the manager has left; then they were active.
    assert resolve(MANAGER, requester=requester)[0].assignee == grandboss
    assert resolve(MANAGER, requester=requester, at=t0)[0].assignee == manager
    # Then frank was still in the role.
    members = resolve(role("finance-approvers"), requester=requester, every_member=True, at=t0)
    assert [a.assignee.username for a in members] == ["fiona", "frank"]
    now_members = resolve(role("finance-approvers"), requester=requester, every_member=True)
    assert [a.assignee.username for a in now_members] == ["fiona"]


def test_past_absence_is_seen_as_of_then(history_noise, requester, manager, delegate):
    absence = away(manager, delegate)
    t_away = timezone.now()
    with time_machine.travel(t_away + timedelta(minutes=1), tick=True):
        absence.delete()
    assert resolve(MANAGER, requester=requester)[0].assignee == manager
    assert resolve(MANAGER, requester=requester, at=t_away)[0].assignee == delegate


def test_fallback_picks_a_member_of_the_fallback_role(requester, admins_role, grandboss):
    a = resolve_fallback("approval-admins", requester=requester)
    assert a.assignee == grandboss
    assert a.role == "approval-admins"


def test_fallback_with_a_cycle_takes_the_first_member_who_can_act(requester, admins_role):
    x = PersonFactory(username="aa-x")
    y = PersonFactory(username="aa-y")
    z = PersonFactory(username="zz-z")
    add_members(admins_role, x, z)  # members: aa-x, grandboss, zz-z
    away(x, y)
    away(y, x)
    a = resolve_fallback("approval-admins", requester=requester)
    assert a.assignee.username == "aa-x" or a.assignee.username != "aa-y"
    # the round robin starts at aa-x, whose chain cycles: first available member acts
    assert a.assignee.username == "grandboss"
    assert "delegation cycle" in a.notes[0]


def test_fallback_without_role_goes_to_a_superuser(requester):
    root = PersonFactory(username="root", is_superuser=True, is_staff=True)
    a = resolve_fallback("approval-admins", requester=requester)
    assert a.assignee == root
    root.is_active = False
    root.save()
    with pytest.raises(NoApprover):
        resolve_fallback("approval-admins", requester=requester)
