"""``hash``: from ``unique=True`` to a named UniqueConstraint, without its ``_like`` index.

On PostgreSQL ``unique=True`` on a CharField makes two indexes: the unique
constraint's and a ``varchar_pattern_ops`` one for LIKE, which no query uses
(153 MB of 916 MB of indexes at 1.7 M events, written on every insert). The
constraint stays what it was; only its name changes, in the catalog, so no index
is rebuilt and the table is not rewritten: rename the constraint PostgreSQL made
(``<table>_hash_key``) to the UniqueConstraint's name, drop the ``_like`` index.

SQLite makes no ``_like`` index and its column-level UNIQUE is the same
constraint, so nothing changes there but Django's picture of the tables.
"""

from django.db import migrations, models

# (table, the UniqueConstraint's name)
TABLES = (
    ("audit_auditevent", "auditevent_hash"),
    ("audit_archivedevent", "archivedevent_hash"),
)

# The one-column unique constraint on "hash", whatever PostgreSQL named it.
UNIQUE_ON_HASH = """
SELECT con.conname FROM pg_constraint con
JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = con.conkey[1]
WHERE con.conrelid = %s::regclass AND con.contype = 'u'
  AND cardinality(con.conkey) = 1 AND att.attname = 'hash'
"""

# The LIKE index Django added next to it.
LIKE_ON_HASH = """
SELECT indexname FROM pg_indexes
WHERE schemaname = current_schema() AND tablename = %s
  AND indexdef LIKE '%%(hash varchar_pattern_ops)'
"""


def _names(schema_editor, sql: str, table: str) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql, [table])
        return [row[0] for row in cursor.fetchall()]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for table, name in TABLES:
        for old in _names(schema_editor, UNIQUE_ON_HASH, table):
            if old != name:
                schema_editor.execute(
                    f"ALTER TABLE {quote(table)} RENAME CONSTRAINT {quote(old)} TO {quote(name)}"
                )
        for index in _names(schema_editor, LIKE_ON_HASH, table):
            schema_editor.execute(f"DROP INDEX {quote(index)}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for table, name in TABLES:
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} RENAME CONSTRAINT {quote(name)} "
            f"TO {quote(table + '_hash_key')}"
        )
        schema_editor.execute(
            f"CREATE INDEX {quote(table + '_hash_like')} ON {quote(table)} "
            "(hash varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only_and_gin")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent", name="hash", field=models.CharField(max_length=64)
                ),
                migrations.AlterField(
                    model_name="archivedevent", name="hash", field=models.CharField(max_length=64)
                ),
                migrations.AddConstraint(
                    model_name="auditevent",
                    constraint=models.UniqueConstraint(fields=("hash",), name="auditevent_hash"),
                ),
                migrations.AddConstraint(
                    model_name="archivedevent",
                    constraint=models.UniqueConstraint(
                        fields=("hash",), name="archivedevent_hash"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        )
    ]
