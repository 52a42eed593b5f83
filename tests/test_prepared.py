"""Prepared reads: a values() queryset compiled once, run again with other values,
gives exactly the rows the queryset gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F, QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.prepared import Prepared
from orgchart.models import Person
from tests.conftest import postgres_only
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

built: list[object] = []


def reports(shape: str, *, manager_id: int, joined_before, prefix: str = "") -> QuerySet:
    built.append(shape)
    people = Person.objects.filter(manager_id=manager_id, date_joined__lt=joined_before)
    if shape == "prefixed":
        people = people.filter(username__gte=prefix)
    return people.order_by("username").values(
        "username", "date_joined", "notification_channels", "manager__username"
    )[:3]


def test_the_rows_are_the_querysets_rows_for_every_value_and_shape(grandboss, manager):
    now = timezone.now()
    for i in range(5):
        PersonFactory(username=f"ann{i}", manager=manager, notification_channels=["slack"],
                      date_joined=now - timedelta(days=i))
        PersonFactory(username=f"bob{i}", manager=grandboss, date_joined=now - timedelta(days=i))
    prepared = Prepared(reports)
    built.clear()
    cases = [
        ("all", {"manager_id": manager.pk, "joined_before": now}),
        ("all", {"manager_id": grandboss.pk, "joined_before": now - timedelta(days=2)}),
        ("all", {"manager_id": 0, "joined_before": now}),  # nobody
        ("prefixed", {"manager_id": grandboss.pk, "joined_before": now, "prefix": "bob"}),
        ("prefixed", {"manager_id": manager.pk, "joined_before": now, "prefix": "bob"}),
        ("prefixed", {"manager_id": manager.pk, "joined_before": now, "prefix": "ann1"}),
    ]
    for shape, values in cases:
        expected = list(reports(shape, **values))
        with CaptureQueriesContext(connection) as ctx:
            rows = prepared.rows(shape, **values)
        assert rows == expected, (shape, values)
        assert len(ctx.captured_queries) == 1
    assert any(rows for shape, values in cases for rows in [prepared.rows(shape, **values)])
    assert prepared.rows("all", **cases[0][1])[0]["notification_channels"] == ["slack"]
    # Built once per shape by Prepared (the other builds are the comparisons above).
    assert built.count("all") == 3 + 1 and built.count("prefixed") == 3 + 1


@pytest.mark.parametrize("use", ["ignored", "changed"])
def test_a_value_the_sql_does_not_carry_as_it_is_is_refused(manager, use):
    def query(shape, *, manager_id, prefix):
        people = Person.objects.filter(manager_id=manager_id)
        if use == "changed":  # the lookup escapes the value and adds "%": not put in again
            people = people.filter(username__startswith=prefix)
        return people.values("username")

    with pytest.raises(ValueError, match="prefix"):
        Prepared(query).rows(None, manager_id=manager.pk, prefix="x")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_each_connection_prepares_the_statement_once(manager):
    """PREPARE the first time a connection runs a shape, EXECUTE afterwards; the
    statement outlives a rolled-back transaction; a new connection prepares again."""
    from django.db import transaction

    prepared = Prepared(reports)
    values = {"manager_id": manager.pk, "joined_before": timezone.now()}

    def held() -> int:  # this connection's prepared statements
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            return cursor.fetchone()[0]

    def statements() -> list[str]:
        before = held()
        with CaptureQueriesContext(connection) as ctx:
            assert prepared.rows("all", **values) == list(reports("all", **values))
        verbs = [q["sql"].split(" ", 1)[0] for q in ctx.captured_queries]
        # PREPARE is not among the counted queries; the session's statements tell it.
        return ["PREPARE"] * (held() - before) + [v for v in verbs if v == "EXECUTE"]

    assert statements() == ["PREPARE", "EXECUTE"]
    assert statements() == ["EXECUTE"]
    try:
        with transaction.atomic():
            assert statements() == ["EXECUTE"]
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert statements() == ["EXECUTE"]
    connection.close()
    assert statements() == ["PREPARE", "EXECUTE"]


def team(shape: str, *, manager_id: int, level: int) -> QuerySet:
    people = Person.objects.filter(manager_id=manager_id, id__gte=level).order_by("username")
    if shape == "related":
        return people.select_related("manager", "manager__manager")
    return people.annotate(
        boss=F("manager__username"), boss_of_boss=F("manager__manager__username")
    )


@pytest.mark.parametrize("shape", ["related", "annotated"])
def test_objects_are_the_querysets_instances_with_related_objects_and_annotations(
    grandboss, manager, shape
):
    for i in range(3):
        PersonFactory(username=f"ann{i}", manager=manager)
    prepared = Prepared(team)
    for values in ({"manager_id": manager.pk, "level": 0}, {"manager_id": grandboss.pk, "level": 0},
                   {"manager_id": manager.pk, "level": 10**9}):
        expected = list(team(shape, **values))
        with CaptureQueriesContext(connection) as ctx:
            made = prepared.objects(shape, **values)
            if shape == "related":  # loaded with the row: no query
                assert [(p.manager.username, p.manager.manager) for p in made] == [
                    (p.manager.username, p.manager.manager) for p in expected
                ]
            else:
                assert [(p.boss, p.boss_of_boss) for p in made] == [
                    (p.boss, p.boss_of_boss) for p in expected
                ]
        assert len(ctx.captured_queries) == 1
        assert [p.__dict__.keys() - {"_state"} for p in made] == [
            p.__dict__.keys() - {"_state"} for p in expected
        ]
        assert [(p.pk, p.username, p.date_joined, p.manager_id) for p in made] == [
            (p.pk, p.username, p.date_joined, p.manager_id) for p in expected
        ]
        assert all(not p._state.adding and p._state.db == "default" for p in made)
    made = prepared.objects(shape, manager_id=manager.pk, level=0)
    made[0].name = "Renamed"
    made[0].save(update_fields=["name"])  # an instance that saves as a loaded one does
    assert Person.objects.get(pk=made[0].pk).name == "Renamed"


SIMPLE = """\
workflow: simple
title: Simple
steps:
  - id: manager
    approver: "{{ requester.manager }}"
"""


def test_a_big_integer_columns_value_is_put_in_as_the_backend_passes_it(requester, admins_role):
    """On PostgreSQL (psycopg 3) a BigIntegerField's lookup value is wrapped in ``Int8``
    (the audit trail's ``request_id``): the marker is found through the wrapper, and the
    real value is wrapped the same way."""
    from approvals import services
    from audit.models import AuditEvent

    def events(shape: None, *, request_id: int) -> QuerySet:
        return AuditEvent.objects.filter(request_id=request_id).order_by("seq").values(
            "seq", "event_type"
        )

    services.publish(source=SIMPLE, author=requester)
    first = services.submit(workflow_key="simple", requester=requester, inputs={})
    second = services.submit(workflow_key="simple", requester=requester, inputs={})
    services.cancel(request_id=second.pk, actor=requester)
    prepared = Prepared(events)
    for request_id in (first.pk, second.pk, 0, first.pk):
        assert prepared.rows(None, request_id=request_id) == list(
            events(None, request_id=request_id)
        )
    assert len(prepared.rows(None, request_id=second.pk)) > len(
        prepared.rows(None, request_id=first.pk)
    ) > 0


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_after_it_was_compiled(manager):
    """Django refuses select_for_update in autocommit when it compiles the query; a
    Prepared read is compiled once, so it checks on every run."""
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    locked = Prepared(lambda shape, pk: Person.objects.select_for_update().filter(pk=pk))
    with transaction.atomic():
        assert [p.pk for p in locked.objects(None, pk=manager.pk)] == [manager.pk]
    with pytest.raises(TransactionManagementError):
        locked.objects(None, pk=manager.pk)
