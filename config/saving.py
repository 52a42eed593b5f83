"""``Model.save()`` for the engine's hot writes, with the SQL written once per model and
field list.

A decision writes a few rows through the ORM: the decision, the task's new state,
the request's. ``save()`` builds and compiles an UPDATE or INSERT query on every call,
which costs about twice what the database takes to run it (0.38 ms against 0.15 ms
for a task's three fields). ``save_fields`` and ``insert`` do what ``save()`` does
for these plain cases, in the same order (``pre_save`` signal, each field's
``pre_save()`` — ``auto_now`` stamps —, its ``get_db_prep_save()``, the statement,
the ``post_save`` signal with the same arguments) and leave the instance as ``save()``
does; only the statement's text is kept instead of built again, and on PostgreSQL
prepared once per connection (``config.statements``) instead of parsed and planned
again by the server at every call.

Not covered, and refused: expressions as values (``F()``), models with multi-table
inheritance or with ``db_default``/generated fields (what the engine's models do not
use); the tests compare rows, instances and signals with ``save()``'s.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.db.models import NOT_PROVIDED, Field, Model
from django.db.models.signals import post_save, pre_save

from config.statements import Statement


def save_fields(instance: Model, *names: str, missing_ok: bool = False) -> None:
    """``instance.save(update_fields=names)`` for a saved instance. ``missing_ok``: a row
    deleted meanwhile is no error (``filter(pk=…).update(…)``'s way), where ``save()``
    raises."""
    model = type(instance)
    using = instance._state.db or router.db_for_write(model, instance=instance)
    connection = connections[using]
    update_fields = frozenset(names)
    fields, statement = _update(model, names, connection.alias)
    instance._prepare_related_fields_for_save(operation_name="save")
    if not model._meta.auto_created:
        pre_save.send(
            sender=model, instance=instance, raw=False, using=using, update_fields=update_fields
        )
    values = [_prep(field, field.pre_save(instance, False), connection) for field in fields]
    values.append(model._meta.pk.get_db_prep_value(instance.pk, connection))
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        statement.execute(connection, cursor, values)
        if cursor.rowcount != 1 and not missing_ok:
            raise DatabaseError("Save with update_fields did not affect any rows.")
    _saved(instance, using, created=False, update_fields=update_fields)


def insert(instance: Model) -> None:
    """``instance.save(force_insert=True)`` for a new instance whose primary key the
    database gives (an auto field)."""
    model = type(instance)
    using = router.db_for_write(model, instance=instance)
    connection = connections[using]
    fields, statement, returning = _insert(model, connection.alias)
    instance._prepare_related_fields_for_save(operation_name="save")
    if not model._meta.auto_created:
        pre_save.send(sender=model, instance=instance, raw=False, using=using, update_fields=None)
    values = [_prep(field, field.pre_save(instance, True), connection) for field in fields]
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        statement.execute(connection, cursor, values)
        if returning:
            (pk,) = cursor.fetchone()
        else:
            pk = connection.ops.last_insert_id(
                cursor, model._meta.db_table, model._meta.pk.column
            )
    pk_field = model._meta.pk
    for converter in pk_field.get_db_converters(connection):
        pk = converter(pk, pk_field, connection)
    setattr(instance, pk_field.attname, pk)
    _saved(instance, using, created=True, update_fields=None)


def _saved(
    instance: Model, using: str, *, created: bool, update_fields: frozenset[str] | None
) -> None:
    """The end of ``save_base``: the instance is now saved, then ``post_save``."""
    instance._state.adding = False
    instance._state.db = using
    model = type(instance)
    if not model._meta.auto_created:
        post_save.send(
            sender=model,
            instance=instance,
            created=created,
            update_fields=update_fields,
            raw=False,
            using=using,
        )


def _prep(field: Field, value: Any, connection: Any) -> Any:
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"{field.name}: expressions are saved with Model.save()")
    return field.get_db_prep_save(value, connection=connection)


@cache
def _update(
    model: type[Model], names: tuple[str, ...], alias: str
) -> tuple[list[Field], Statement]:
    meta = model._meta
    _check(model)
    by_name = {f.name: f for f in meta.concrete_fields} | {
        f.attname: f for f in meta.concrete_fields
    }
    missing = [name for name in names if name not in by_name or by_name[name].primary_key]
    if missing:
        raise ValueError(f"{model.__name__} has no updatable fields {missing}")
    fields = [by_name[name] for name in names]
    qn = connections[alias].ops.quote_name
    sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    table, pk = qn(meta.db_table), qn(meta.pk.column)
    sql = f"UPDATE {table} SET {sets} WHERE {pk} = %s"  # noqa: S608 - names from the model
    return fields, Statement(sql)


@cache
def _insert(model: type[Model], alias: str) -> tuple[list[Field], Statement, bool]:
    meta = model._meta
    _check(model)
    if meta.auto_field is None or meta.pk is not meta.auto_field:
        raise TypeError(f"{model.__name__}: insert() is for models with an auto primary key")
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
    connection = connections[alias]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    returning = connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {qn(meta.pk.column)}"
    return fields, Statement(sql), returning


def _check(model: type[Model]) -> None:
    meta = model._meta
    if meta.parents or meta.proxy:
        raise TypeError(f"{model.__name__}: inherited models are saved with Model.save()")
    for field in meta.concrete_fields:
        if getattr(field, "generated", False) or field.db_default is not NOT_PROVIDED:
            raise TypeError(f"{model.__name__}.{field.name}: saved with Model.save()")
