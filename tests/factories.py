"""factory_boy factories for the org chart and workflows."""

from __future__ import annotations

import factory

from orgchart.models import Person, Role, RoleMembership


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"person{n}")
    name = factory.LazyAttribute(lambda p: p.username.capitalize())
    email = factory.LazyAttribute(lambda p: f"{p.username}@example.com")
    department = "engineering"
    password = factory.django.Password("demo")


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"role-{n}")


def add_members(role: Role, *people: Person) -> Role:
    for person in people:
        RoleMembership.objects.get_or_create(role=role, person=person)
    return role


def side_effects(callbacks: list) -> list:
    """The on_commit callbacks that do something: without the audit writer's
    chain-head cache, which registers itself as a no-op callback (audit.services)."""
    from audit.services import _TransactionHeads

    return [cb for cb in callbacks if not isinstance(cb, _TransactionHeads)]
