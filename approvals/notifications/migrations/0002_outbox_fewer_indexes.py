"""Two fewer indexes on the outbox, which every message insert writes.

- ``dedup_key``: from ``unique=True`` to the named UniqueConstraint
  ``outbox_dedup_key``, without the ``varchar_pattern_ops`` index PostgreSQL's
  ``unique=True`` brings for LIKE queries (none is made: the insert's ON CONFLICT
  and equality use the unique index; the admin's search is a case-insensitive
  "contains", which no btree serves). The constraint itself stays: it is renamed
  in the catalog, nothing is rebuilt.
- ``recipient_id``: its own index goes; ``outbox_recipient_request`` (recipient,
  request, channel, state) WHERE recipient IS NOT NULL starts with it and serves
  ``recipient_id = x`` and ``IN (…)`` (the person's deletion and its foreign-key
  check; a test runs EXPLAIN on them).

Each DROP INDEX is a catalog change but takes an exclusive lock on the table until
the migration commits, so on PostgreSQL it gives up after LOCK_TIMEOUT rather
than hold the outbox's writers back while it waits: run it again when quieter.
Backwards puts both indexes back (plain CREATE INDEX, which blocks writes while it
builds). On SQLite there is no ``_like`` index and nothing changes but Django's
picture of the table and the recipient index.
"""

from django.conf import settings
from django.db import migrations, models

TABLE = "notifications_outbox"
NAME = "outbox_dedup_key"
LOCK_TIMEOUT = "10s"

# The one-column unique constraint on dedup_key, whatever PostgreSQL named it.
UNIQUE_ON_KEY = """
SELECT con.conname FROM pg_constraint con
JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = con.conkey[1]
WHERE con.conrelid = %s::regclass AND con.contype = 'u'
  AND cardinality(con.conkey) = 1 AND att.attname = 'dedup_key'
"""

# The LIKE index Django added next to it.
LIKE_ON_KEY = """
SELECT indexname FROM pg_indexes
WHERE schemaname = current_schema() AND tablename = %s
  AND indexdef LIKE '%%(dedup_key varchar_pattern_ops)'
"""


def _names(schema_editor, sql: str) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql, [TABLE])
        return [row[0] for row in cursor.fetchall()]


def fail_fast_on_locks(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for old in _names(schema_editor, UNIQUE_ON_KEY):
        if old != NAME:
            schema_editor.execute(
                f"ALTER TABLE {quote(TABLE)} RENAME CONSTRAINT {quote(old)} TO {quote(NAME)}"
            )
    for index in _names(schema_editor, LIKE_ON_KEY):
        schema_editor.execute(f"DROP INDEX {quote(index)}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    schema_editor.execute(
        f"ALTER TABLE {quote(TABLE)} RENAME CONSTRAINT {quote(NAME)} "
        f"TO {quote(TABLE + '_dedup_key_key')}"
    )
    schema_editor.execute(
        f"CREATE INDEX {quote(TABLE + '_dedup_key_like')} ON {quote(TABLE)} "
        "(dedup_key varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(fail_fast_on_locks, migrations.RunPython.noop, elidable=False),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="outbox", name="dedup_key", field=models.CharField(max_length=255)
                ),
                migrations.AddConstraint(
                    model_name="outbox",
                    constraint=models.UniqueConstraint(fields=("dedup_key",), name=NAME),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
        migrations.AlterField(
            model_name="outbox",
            name="recipient",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.CASCADE,
                related_name="outbox_messages",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
