"""Audit chain version 2: PostgreSQL computes and chains every event's hash itself.

investigations_audit_hash() is the definition of an event's hash (models.canonical_bytes is the
same definition in Python, for SQLite and for tests). A BEFORE INSERT trigger takes the chain lock,
reads the head and sets seq, prev_hash and hash on every new row, so no writer, ORM or raw SQL or
COPY, can append an unchained event, and verify_audit can check the chain in SQL.

SQLite (the demo) has no sha256(): the Python writer chains there. Altering the fields makes
SQLite rebuild the table, which drops its append-only triggers, so they are created again.
"""

from django.db import migrations, models

from ._audit_sql import SQLITE_APPEND_ONLY, TABLE

POSTGRES_FORWARD = f"""
CREATE OR REPLACE FUNCTION investigations_audit_hash(
    seq bigint, created_at timestamptz, actor_type text, actor_id text, actor_label text,
    action text, target_type text, target_id text, outcome text, reason text, request_id text,
    client_ip text, user_agent text, data jsonb, prev_hash text
) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(json_build_array(
        seq, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        actor_type, actor_id, actor_label, action, target_type, target_id, outcome, reason,
        request_id, client_ip, user_agent, data, prev_hash
    )::text, 'UTF8')), 'hex')
$$;

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
        SELECT e.seq, e.hash INTO head FROM {TABLE} e ORDER BY e.seq DESC LIMIT 1;
        IF FOUND THEN
            NEW.seq := head.seq + 1;
            NEW.prev_hash := head.hash;
        ELSE
            NEW.seq := 1;
            NEW.prev_hash := repeat('0', 64);
        END IF;
        NEW.hash := investigations_audit_hash(
            NEW.seq, NEW.created_at, NEW.actor_type, NEW.actor_id, NEW.actor_label, NEW.action,
            NEW.target_type, NEW.target_id, NEW.outcome, NEW.reason, NEW.request_id, NEW.client_ip,
            NEW.user_agent, NEW.data, NEW.prev_hash);
    END LOOP;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_chain_append BEFORE INSERT ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION investigations_audit_chain();
"""
POSTGRES_BACKWARD = f"""
DROP TRIGGER IF EXISTS audit_chain_append ON {TABLE};
DROP FUNCTION IF EXISTS investigations_audit_chain();
DROP FUNCTION IF EXISTS investigations_audit_hash(
    bigint, timestamptz, text, text, text, text, text, text, text, text, text, text, text, jsonb, text);
"""
def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_APPEND_ONLY:
            schema_editor.execute(statement, params=None)
    else:
        raise RuntimeError(f"No audit chain for database vendor {vendor!r}.")


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_APPEND_ONLY:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("investigations", "0007_remediation")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(db_default="", max_length=64, unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(db_default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(db_default=0, unique=True),
        ),
        migrations.RunPython(forward, backward),
    ]
