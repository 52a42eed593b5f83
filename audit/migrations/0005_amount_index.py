"""PostgreSQL only: an index for the auditors' "approvals over N in a quarter".

``?inputs.amount__gte=50000`` filters on ``audit.filters.JSONNumber("amount")``
(the amount whether stored as a JSON number or a numeric string). No index
served it, so the plan visited every event of the type in the range (finding 6
of docs/PERFORMANCE.md). These indexes hold that expression after
(event_type, at), so the comparison becomes an index condition.

The planner uses an expression index only for the very same expression: the SQL
below is what ``JSONNumber.as_postgresql`` produces for "amount" (with
``PG_NUMBER_RE``). A test runs EXPLAIN on the filter's own query and insists on
this index, so changing one without the other fails there; a change of
``JSONNumber``'s SQL needs a migration that rebuilds these.

CREATE INDEX reads the table once and blocks writes to it while it builds
(about a minute per ten million events); it does not rewrite the table.
"""

from django.db import migrations

AMOUNT = (
    r"(CASE WHEN (inputs ->> 'amount') ~ '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$' "
    r"THEN (inputs ->> 'amount')::numeric END)"
)

INDEXES = (
    ("audit_type_at_amount", "audit_auditevent"),
    ("archived_type_at_amount", "audit_archivedevent"),
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table in INDEXES:
        # params=None: the expression is SQL as it stands, not a template.
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} (event_type, at, {AMOUNT})", params=None
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_hash_unique_constraint")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
