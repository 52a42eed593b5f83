"""The page header's Audit and Reports links: who sees them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from tests.factories import PersonFactory, RoleFactory, add_members

pytestmark = pytest.mark.django_db


def perm(app_label: str, codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def links(client, person) -> tuple[bool, bool]:
    client.force_login(person)
    html = client.get("/").content.decode()
    return 'href="/audit/' in html, 'href="/reports/"' in html


def test_who_sees_the_audit_and_reports_links(client, grandboss, outsider):
    by_role = PersonFactory(username="by_role", manager=grandboss)
    add_members(RoleFactory(name="auditors"), by_role)
    by_perm = PersonFactory(username="by_perm", manager=grandboss)
    by_perm.user_permissions.add(perm("audit", "view_auditevent"))
    group = Group.objects.create(name="authors")
    group.permissions.add(perm("approvals", "add_workflowversion"))
    author = PersonFactory(username="author", manager=grandboss)
    author.groups.add(group)
    group_auditor = PersonFactory(username="group_auditor", manager=grandboss)
    audit_group = Group.objects.create(name="audit-readers")
    audit_group.permissions.add(perm("audit", "view_auditevent"))
    group_auditor.groups.add(audit_group)
    boss = PersonFactory(username="boss", manager=grandboss, is_superuser=True)

    assert links(client, outsider) == (False, False)
    assert links(client, by_role) == (True, True)
    assert links(client, by_perm) == (True, True)
    assert links(client, group_auditor) == (True, True)
    assert links(client, author) == (False, True)
    assert links(client, boss) == (True, True)


def test_a_role_or_permission_taken_away_shows_on_the_next_page(client, grandboss):
    person = PersonFactory(username="p", manager=grandboss)
    auditors = RoleFactory(name="auditors")
    add_members(auditors, person)
    assert links(client, person) == (True, True)
    auditors.memberships.filter(person=person).delete()
    assert links(client, person) == (False, False)
