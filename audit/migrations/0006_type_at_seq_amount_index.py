"""The auditor's question's index, in the order pages read: (event_type, at, seq, amount).

It takes the place of migration 0005's (event_type, at, amount) index and of the
plain (event_type, at) one (0007 drops both): with ``seq`` after ``at`` a page
of "request_approved in Q3 with inputs.amount >= 50,000", newest first, is a
backward scan of this index that stops after a page of entries, instead of
reading and sorting every match (``audit.selectors.events_for``).

The amount is ``JSONNumber("amount")``, the very expression the filter compares,
so PostgreSQL matches it and the comparison is an index condition; on SQLite
the same expression is indexed too (it does no harm; the (event_type, at) prefix
is what serves it there). A test runs EXPLAIN on the filter's own queries.

On PostgreSQL the index is built CONCURRENTLY (so the migration is not atomic):
writes to the audit tables go on while it builds; it reads the table twice and
waits for transactions open at its start. If it is interrupted it leaves an
INVALID index behind: ``DROP INDEX CONCURRENTLY`` it and migrate again. Then
ANALYZE gathers the statistics of the indexed amount expression (PostgreSQL keeps
them per expression index): without them the planner guesses a third of the
rows pass any amount condition. ANALYZE reads a sample (30,000 rows) and does
not block writes.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

import audit.filters


class AddIndexOnline(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )


def type_at_seq_amount(name: str) -> models.Index:
    return models.Index(
        models.F("event_type"),
        models.F("at"),
        models.F("seq"),
        audit.filters.JSONNumber("amount"),
        name=name,
    )


def analyze(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ANALYZE audit_auditevent, audit_archivedevent")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0005_amount_index")]

    operations = [
        AddIndexOnline(
            model_name="auditevent", index=type_at_seq_amount("audit_type_at_seq_amount")
        ),
        AddIndexOnline(
            model_name="archivedevent", index=type_at_seq_amount("archived_type_at_seq_amount")
        ),
        migrations.RunPython(analyze, migrations.RunPython.noop, elidable=False),
    ]
