"""SQL shared by audit migrations (the loader skips modules whose names start with "_").

SQLite rebuilds a table to alter a column and drops its triggers with it; a migration that
alters the audit table on SQLite re-creates the append-only triggers with these statements."""

TABLE = "investigations_auditevent"

SQLITE_APPEND_ONLY = [
    "DROP TRIGGER IF EXISTS audit_refuse_update;",
    "DROP TRIGGER IF EXISTS audit_refuse_delete;",
    f"CREATE TRIGGER audit_refuse_update BEFORE UPDATE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE refused'); END;",
    f"CREATE TRIGGER audit_refuse_delete BEFORE DELETE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE refused'); END;",
]


def sqlite_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_APPEND_ONLY:
            schema_editor.execute(statement, params=None)
