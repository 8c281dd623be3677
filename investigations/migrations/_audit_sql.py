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


def chain_function(*, database_time):
    """The BEFORE INSERT chaining function. database_time (chain from migration 0010): the event's
    time is the database clock's, read under the chain lock, so a writer cannot date an event, and
    times follow seq order: appends are serialised by the lock until commit, so the clock read by
    each holder is later than the previous holder's; greatest() keeps that true if the clock steps
    back. now() would not do: it is the transaction's start, and a transaction that started earlier
    can take the lock later."""
    found_stamp = (
        "\n            NEW.created_at := greatest(clock_timestamp(), head.created_at);" if database_time else ""
    )
    first_stamp = "\n            NEW.created_at := clock_timestamp();" if database_time else ""
    return f"""
CREATE OR REPLACE FUNCTION investigations_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head record;
BEGIN
    -- Twice round: the first pass, without the lock, only gets PL/pgSQL to plan these statements
    -- (milliseconds on a connection's first event) so that the pass under the lock, which
    -- serialises every append until commit, runs on cached plans (tens of microseconds).
    FOR pass IN 1..2 LOOP
        IF pass = 2 THEN
            -- The same lock the Python writer used to take: appends are serialised until commit.
            PERFORM pg_advisory_xact_lock(1296253269);
        END IF;
        SELECT e.seq, e.hash, e.created_at INTO head FROM {TABLE} e ORDER BY e.seq DESC LIMIT 1;
        IF FOUND THEN
            NEW.seq := head.seq + 1;
            NEW.prev_hash := head.hash;{found_stamp}
        ELSE
            NEW.seq := 1;
            NEW.prev_hash := repeat('0', 64);{first_stamp}
        END IF;
        NEW.hash := investigations_audit_hash(
            NEW.seq, NEW.created_at, NEW.actor_type, NEW.actor_id, NEW.actor_label, NEW.action,
            NEW.target_type, NEW.target_id, NEW.outcome, NEW.reason, NEW.request_id, NEW.client_ip,
            NEW.user_agent, NEW.data, NEW.prev_hash);
    END LOOP;
    RETURN NEW;
END $$;
"""  # noqa: S608 (constants only)
