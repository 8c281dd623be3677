"""The audit table refuses UPDATE, DELETE and TRUNCATE in the database itself, so no code path,
ORM or raw SQL, can change history. PostgreSQL in production and tests; SQLite for the demo."""

from django.db import migrations

TABLE = "investigations_auditevent"

POSTGRES_FORWARD = f"""
CREATE OR REPLACE FUNCTION investigations_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_refuse_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION investigations_audit_refuse();
CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION investigations_audit_refuse();
"""
POSTGRES_BACKWARD = f"""
DROP TRIGGER IF EXISTS audit_refuse_truncate ON {TABLE};
DROP TRIGGER IF EXISTS audit_refuse_update_delete ON {TABLE};
DROP FUNCTION IF EXISTS investigations_audit_refuse();
"""
# SQLite has no TRUNCATE; its "DELETE FROM t" fast path is disabled when a DELETE trigger exists.
SQLITE_FORWARD = [
    f"CREATE TRIGGER audit_refuse_update BEFORE UPDATE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END;",
    f"CREATE TRIGGER audit_refuse_delete BEFORE DELETE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE refused'); END;",
]
SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS audit_refuse_update;", "DROP TRIGGER IF EXISTS audit_refuse_delete;"]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement, params=None)
    else:
        raise RuntimeError(f"No append-only triggers for database vendor {vendor!r}; refusing to run unprotected.")


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [POSTGRES_BACKWARD] if vendor == "postgresql" else SQLITE_BACKWARD
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("investigations", "0002_roles")]
    operations = [migrations.RunPython(forward, backward)]
