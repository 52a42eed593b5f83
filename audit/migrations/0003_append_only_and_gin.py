"""PostgreSQL only: the append-only trigger and the GIN indexes on inputs.

Guarded by vendor, so the SQLite default still migrates (there the model and
its queryset refuse changes, and the hash chain makes any edit detectable).

The trigger refuses UPDATE, DELETE and TRUNCATE on every audit table, with two
exceptions:
- DELETE of a hot event while the archive service's transaction has set
  ``SET LOCAL audit.archiving = 'on'``, and only if the event's id and hash are
  already in the archive manifest (audit_archivedevent): the one deliberate,
  audited path past the trigger;
- TRUNCATE in a database named ``test_*``: Django's test runner flushes its
  throwaway test databases between transactional tests (a test sets
  ``audit.test_truncate = 'off'`` to see the refusal).
"""

from django.db import migrations

TABLES = (
    "audit_auditevent",
    "audit_archivedevent",
    "audit_auditarchive",
    "audit_auditcheckpoint",
    "audit_checkpointentry",
)

FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF starts_with(current_database(), 'test_')
           AND coalesce(current_setting('audit.test_truncate', true), '') <> 'off' THEN
            RETURN NULL;
        END IF;
    ELSIF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_auditevent'
          AND current_setting('audit.archiving', true) = 'on' THEN
        IF EXISTS (SELECT 1 FROM audit_archivedevent a WHERE a.id = OLD.id AND a.hash = OLD.hash) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit event % is not in the archive manifest: refusing to delete it', OLD.id;
    END IF;
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;
"""

GIN = (
    # ?inputs.FIELD=VALUE filters use containment (@>), which jsonb_path_ops serves.
    "CREATE INDEX IF NOT EXISTS audit_inputs_gin ON audit_auditevent USING gin (inputs jsonb_path_ops)",
    "CREATE INDEX IF NOT EXISTS archived_inputs_gin ON audit_archivedevent USING gin (inputs jsonb_path_ops)",
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # params=None: the function body has %-placeholders of its own (RAISE).
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )
    for sql in GIN:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    schema_editor.execute("DROP INDEX IF EXISTS audit_inputs_gin")
    schema_editor.execute("DROP INDEX IF EXISTS archived_inputs_gin")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_archive_and_checkpoints")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
