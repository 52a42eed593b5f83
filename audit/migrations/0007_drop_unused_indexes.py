"""Fewer indexes on the audit tables: each one is written by every event insert.

Dropped, on both tiers:
- ``hash`` uniqueness (``auditevent_hash``, ``archivedevent_hash``): no query
  looks an event up by its hash alone (the archive trigger of 0003 matches by id,
  through the primary key; checkpoints and verify by chain and seq), and two
  genuine events cannot share a hash: SHA-256 over material that includes chain
  and seq, unique together. At 16.8 M events it was the largest (2 GB) and the
  most randomly written index.
- ``audit_type_at`` / ``archived_type_at`` (event_type, at): a prefix of 0006's
  (event_type, at, seq, amount), on SQLite as on PostgreSQL.
- 0005's (event_type, at, amount) expression indexes (PostgreSQL only): 0006's
  index answers the same condition and also gives the page order.

Dropping is quick (catalog changes; the files go at commit), but each DROP takes
an exclusive lock on its table until the migration commits: it waits for queries
running on the table (a long audit_verify or export) and holds every new one,
writes included, back meanwhile. So on PostgreSQL it gives up after LOCK_TIMEOUT
rather than wait: run it again when the table is quieter. It depends on 0006,
whose index replaces the dropped ones. Backwards rebuilds what it dropped with
plain CREATE INDEX / ADD CONSTRAINT, which blocks writes while they build. On
SQLite removing a unique constraint remakes the table (Django copies it), which
is fine for the development databases it serves.
"""

from django.db import migrations

# PostgreSQL only (0005): the SQL JSONNumber("amount") produced there.
AMOUNT = (
    r"(CASE WHEN (inputs ->> 'amount') ~ '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$' "
    r"THEN (inputs ->> 'amount')::numeric END)"
)
AMOUNT_INDEXES = (
    ("audit_type_at_amount", "audit_auditevent"),
    ("archived_type_at_amount", "audit_archivedevent"),
)


LOCK_TIMEOUT = "10s"


def fail_fast_on_locks(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def drop_amount_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in AMOUNT_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def create_amount_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table in AMOUNT_INDEXES:
        # params=None: the expression is SQL as it stands, not a template.
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} (event_type, at, {AMOUNT})", params=None
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_type_at_seq_amount_index")]

    operations = [
        migrations.RunPython(fail_fast_on_locks, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(drop_amount_indexes, create_amount_indexes, elidable=False),
        migrations.RemoveConstraint(model_name="auditevent", name="auditevent_hash"),
        migrations.RemoveConstraint(model_name="archivedevent", name="archivedevent_hash"),
        migrations.RemoveIndex(model_name="auditevent", name="audit_type_at"),
        migrations.RemoveIndex(model_name="archivedevent", name="archived_type_at"),
    ]
