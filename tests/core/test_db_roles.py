"""The runtime database role cannot disarm the audit: it owns nothing, and on the audit table it may
only read and append. make test runs the whole suite as that role (DATABASE_URL, with the owner in
DATABASE_OWNER_URL); run with one role only, these tests take the runtime role with SET ROLE."""

import io
import os
import subprocess
import sys
import threading
import uuid

import dj_database_url
import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from investigations.audit.services import audit_record
from investigations.management.commands.db_roles import runtime_role_sql
from investigations.models import AuditEvent

FALLBACK_ROLE = "portal_test_runtime"

ATTACKS = {
    "disable the triggers": "ALTER TABLE investigations_auditevent DISABLE TRIGGER USER",
    "disable one trigger": "ALTER TABLE investigations_auditevent DISABLE TRIGGER audit_refuse_update_delete",
    "drop the refusing trigger": "DROP TRIGGER audit_refuse_update_delete ON investigations_auditevent",
    "drop the chaining trigger": "DROP TRIGGER audit_chain_append ON investigations_auditevent",
    "replace the refusing function": (
        "CREATE OR REPLACE FUNCTION investigations_audit_refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN OLD; END $$"
    ),
    "replace the chaining function": (
        "CREATE OR REPLACE FUNCTION investigations_audit_chain() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEW; END $$"
    ),
    "drop the hash function": "DROP FUNCTION investigations_audit_hash CASCADE",
    "update": "UPDATE investigations_auditevent SET reason = 'nothing to see'",
    "delete": "DELETE FROM investigations_auditevent",
    "truncate": "TRUNCATE investigations_auditevent",
    "take ownership": "ALTER TABLE investigations_auditevent OWNER TO CURRENT_USER",
}


@pytest.fixture
def runtime_role(db):
    """The role the portal runs as. Under make test it is the session's own role; run with one role
    (the owner) only, the grants are applied for a test role and the transaction takes it on."""
    if getattr(settings, "DATABASE_OWNER_URL", ""):
        with connection.cursor() as cursor:
            cursor.execute("SELECT session_user, current_user")
            session_user, current_user = cursor.fetchone()
        assert session_user == current_user == connection.settings_dict["USER"]
        return current_user
    call_command("db_roles", FALLBACK_ROLE, "--apply", stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{FALLBACK_ROLE}"')
    return FALLBACK_ROLE


def test_the_runtime_role_is_no_superuser_and_owns_nothing(runtime_role):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False, False)
        cursor.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'investigations_auditevent'"
            " UNION SELECT proowner::regrole::text FROM pg_proc WHERE proname LIKE 'investigations_audit_%%'"
        )
        owners = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = current_user"
        )
        assert cursor.fetchone()[0] == 0
    assert runtime_role not in owners


@pytest.mark.parametrize("statement", list(ATTACKS.values()), ids=list(ATTACKS))
def test_the_runtime_role_is_refused_every_way_to_disarm_or_change_the_audit(runtime_role, statement):
    audit_record(actor=None, action="test.event", target=None)
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    # Refused by the grants (not by the append-only triggers, which an owner could switch off).
    assert refused.value.__cause__.sqlstate == "42501", refused.value
    assert "append-only" not in str(refused.value)
    assert AuditEvent.objects.count() == 1


def test_the_runtime_role_reads_and_appends_and_the_chain_still_holds(runtime_role):
    first = audit_record(actor=None, action="test.first", target=None)
    second = audit_record(actor=None, action="test.second", target=("user", 1), data={"k": "v"})
    assert second.seq == first.seq + 1 and second.prev_hash == first.hash
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["test.first", "test.second"]


def test_the_runtime_role_may_read_the_migrations_but_not_record_one(runtime_role):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'investigations'")
        assert cursor.fetchone()[0] > 0
    insert = "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())"
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(insert)


def test_db_roles_prints_the_grants_and_refuses_to_make_the_owner_the_runtime_role(db):
    out = io.StringIO()
    call_command("db_roles", "portal_app", stdout=out)
    sql = out.getvalue()
    assert 'GRANT SELECT, INSERT ON TABLE "investigations_auditevent" TO "portal_app";' in sql
    assert 'REVOKE ALL ON TABLE "investigations_auditevent" FROM "portal_app";' in sql
    assert "NOSUPERUSER" in sql
    with pytest.raises(CommandError, match="not a plain PostgreSQL name"):
        call_command("db_roles", 'x"; DROP TABLE y; --', stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'investigations_auditevent'")
        (owner,) = cursor.fetchone()
    with pytest.raises(CommandError, match="must not be the owner"):
        call_command("db_roles", owner, "--apply", stdout=io.StringIO())


def test_two_runs_at_once_both_end_with_the_role_they_create(db):
    # Roles belong to the cluster, so runs for two databases at once (parallel test workers, two
    # deployments) can both find the role missing. The second CREATE ROLE waits for the first run's
    # transaction, then finds the name taken: that run must carry on, not fail.
    role = f"portal_race_{uuid.uuid4().hex[:12]}"
    create = runtime_role_sql(runtime=role, owner="postgres", database="postgres")[0]
    owner = dj_database_url.parse(settings.DATABASE_OWNER_URL or settings.DATABASE_URL)
    url = psycopg.conninfo.make_conninfo(
        host=owner["HOST"],
        port=owner["PORT"] or 5432,
        user=owner["USER"],
        password=owner.get("PASSWORD") or "",
        dbname=connection.settings_dict["NAME"],  # the test database: the one database sure to be there
    )
    outcome = []
    try:
        with psycopg.connect(url) as first, psycopg.connect(url, autocommit=True) as second:
            first.execute(create)  # created, not committed yet

            def run_second():
                try:
                    second.execute(create)
                    outcome.append("done")
                except psycopg.Error as error:
                    outcome.append(error)

            thread = threading.Thread(target=run_second)
            thread.start()
            thread.join(0.2)
            assert thread.is_alive(), outcome  # waiting on the first run's uncommitted role
            first.commit()
            thread.join(10)
        assert outcome == ["done"]
    finally:
        with psycopg.connect(url, autocommit=True) as cleanup:
            cleanup.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.slow  # a Django process of its own on a fresh SQLite file
def test_db_roles_on_the_sqlite_demo_says_so_and_succeeds(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_OWNER_URL", "CELERY_BROKER_URL")}
    env.update(PORTAL_VAR_DIR=str(tmp_path), DEBUG="false")
    result = subprocess.run(
        [sys.executable, "manage.py", "db_roles", "portal_app"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Database roles are a PostgreSQL matter" in result.stdout
