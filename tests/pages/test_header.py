"""The page header's Audit and Reports links: who sees them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from approvals.selectors import header_flags, is_author
from audit.permissions import is_auditor as audit_is_auditor
from orgchart.models import Person
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


def test_a_group_permission_given_or_taken_away_shows_on_the_next_page(client, grandboss):
    person = PersonFactory(username="p", manager=grandboss)
    group = Group.objects.create(name="authors")
    assert links(client, person) == (False, False)
    person.groups.add(group)
    group.permissions.add(perm("approvals", "add_workflowversion"))
    assert links(client, person) == (False, True)
    group.permissions.remove(perm("approvals", "add_workflowversion"))
    assert links(client, person) == (False, False)


def test_the_header_flags_agree_with_has_perm_and_cost_one_query(
    grandboss, django_assert_num_queries
):
    group = Group.objects.create(name="readers")
    group.permissions.add(perm("audit", "view_auditevent"))
    other_app = Permission.objects.create(  # the same codename elsewhere grants nothing
        codename="view_auditevent", name="look-alike",
        content_type=Permission.objects.get(codename="view_task").content_type,
    )
    people = {
        "nobody": PersonFactory(username="nobody", manager=grandboss),
        "in_role": PersonFactory(username="in_role", manager=grandboss),
        "own_perm": PersonFactory(username="own_perm", manager=grandboss),
        "group_perm": PersonFactory(username="group_perm", manager=grandboss),
        "author": PersonFactory(username="author", manager=grandboss),
        "look_alike": PersonFactory(username="look_alike", manager=grandboss),
        "inactive": PersonFactory(username="inactive", manager=grandboss, is_active=False),
    }
    add_members(RoleFactory(name="auditors"), people["in_role"], people["inactive"])
    add_members(RoleFactory(name="auditors-of-nothing"), people["nobody"])
    people["own_perm"].user_permissions.add(perm("audit", "view_auditevent"))
    people["group_perm"].groups.add(group)
    people["author"].user_permissions.add(perm("approvals", "add_workflowversion"))
    people["look_alike"].user_permissions.add(other_app)
    people["inactive"].user_permissions.add(perm("approvals", "add_workflowversion"))

    for name, person in people.items():
        fresh = Person.objects.get(pk=person.pk)
        with django_assert_num_queries(1 if person.is_active else 0):
            flags = header_flags(fresh)
        again = Person.objects.get(pk=person.pk)  # nothing cached: has_perm and the role
        expected_audit = audit_is_auditor(again)
        expected_report = expected_audit or is_author(again)
        assert (flags.can_audit, flags.can_report) == (expected_audit, expected_report), name
        with django_assert_num_queries(0):
            assert audit_is_auditor(fresh) == expected_audit  # kept for the page's other reads
    assert [n for n, p in people.items() if header_flags(p).can_report] == [
        "in_role", "own_perm", "group_perm", "author",
    ]


def test_another_authentication_backend_is_asked_through_has_perm(settings, grandboss):
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "tests.pages.test_header.EveryoneAuthors",
    ]
    person = PersonFactory(username="p", manager=grandboss)
    flags = header_flags(person)
    assert (flags.can_audit, flags.can_report) == (False, True)


class EveryoneAuthors:
    """A second backend that grants authoring to everyone."""

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user_obj, perm, obj=None):
        return perm == "approvals.add_workflowversion"


def test_the_header_links_are_the_reversed_urls_under_any_script_prefix(client, grandboss):
    from django.urls import reverse, set_script_prefix

    from approvals.context_processors import header_links

    boss = PersonFactory(username="boss", manager=grandboss, is_superuser=True)
    client.force_login(boss)
    html = client.get("/").content.decode()
    names = {"inbox": "approvals:inbox", "choose": "approvals:choose",
             "requests": "approvals:requests", "audit": "audit:events",
             "out_of_office": "orgchart:out_of_office", "logout": "logout"}
    for name, view in names.items():
        assert f'"{reverse(view)}"' in html, name
    try:
        for prefix in ("/", "/approvals/", "/"):  # reverse() depends on the script prefix
            set_script_prefix(prefix)
            assert header_links() == {name: reverse(view) for name, view in names.items()}
            assert header_links()["requests"] == f"{prefix}requests/"
    finally:
        set_script_prefix("/")
