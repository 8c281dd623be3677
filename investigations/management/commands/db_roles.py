"""The portal's two PostgreSQL roles: the owner, which migrates and owns every table, trigger and
function, and the runtime role the web, the workers and beat connect as, with only the grants they
need. The audit triggers are only as strong as the role the portal runs as: a table's owner can
switch its triggers off, drop them or replace their functions. The runtime role owns nothing, and on
the audit table it may only SELECT and INSERT.

`manage.py db_roles portal_app` prints the SQL (for a DBA to run with psql); `--apply` runs it over
DATABASE_OWNER_URL (or DATABASE_URL), as the owner or a superuser. It is idempotent, and is run
again after every `migrate`, so that new tables get their grants and the audit table keeps only its
two. Creating the role needs CREATEROLE (a superuser, once); the grants need the owner.
"""

import re

import dj_database_url
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.utils import ConnectionHandler

from investigations.models import AuditEvent

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Read by nobody at run time and written only by migrate: the runtime role may only read it.
_MIGRATIONS_TABLE = "django_migrations"


def _ident(name):
    # Role and database names are checked against a strict pattern, so quoting cannot be escaped.
    if not _ROLE_NAME.match(name):
        raise CommandError(f"{name!r} is not a plain PostgreSQL name (lower-case letters, digits, _).")
    return f'"{name}"'


def runtime_role_sql(*, runtime, owner, database):
    """The statements that create the runtime role if missing and grant it what the portal needs."""
    role, owner_role, db = _ident(runtime), _ident(owner), _ident(database)
    audit = _ident(AuditEvent._meta.db_table)
    return [
        f"""DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{runtime}') THEN
        CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
    END IF;
-- Roles belong to the cluster: this command run for two databases at once (parallel test workers,
-- two deployments) may both find the role missing, and the second CREATE then fails.
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$""",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"REVOKE CREATE ON SCHEMA public FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # Tables a later migration creates get the same grants; run this command after migrate all
        # the same, since these defaults would also give a new audit table UPDATE and DELETE.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        # The audit trail: read and append, nothing else (no UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES).
        f"REVOKE ALL ON TABLE {audit} FROM {role}",
        f"REVOKE ALL ON TABLE {audit} FROM PUBLIC",
        f"GRANT SELECT, INSERT ON TABLE {audit} TO {role}",
        f"REVOKE ALL ON TABLE {_ident(_MIGRATIONS_TABLE)} FROM {role}",
        f"GRANT SELECT ON TABLE {_ident(_MIGRATIONS_TABLE)} TO {role}",
    ]


def runtime_role_problems(cursor, *, runtime, owner):
    """Why the runtime role could still disarm the audit, if it could: what it is or owns."""
    cursor.execute(
        "SELECT rolsuper, rolcreaterole, rolbypassrls, pg_has_role(%s, %s, 'MEMBER') FROM pg_roles WHERE rolname = %s",
        [runtime, owner, runtime],
    )
    row = cursor.fetchone()
    if row is None:
        return [f"the role {runtime} does not exist"]
    superuser, createrole, bypassrls, member_of_owner = row
    problems = []
    if superuser:
        problems.append(f"{runtime} is a superuser")
    if createrole:
        problems.append(f"{runtime} may create roles")
    if bypassrls:
        problems.append(f"{runtime} bypasses row-level security")
    if member_of_owner:
        problems.append(f"{runtime} is a member of the owner {owner} and can act as it")
    cursor.execute(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid)"
        " + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)"
        " + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)"
        " + (SELECT count(*) FROM pg_database WHERE datdba = r.oid AND datname = current_database())"
        " FROM pg_roles r WHERE r.rolname = %s",
        [runtime],
    )
    owned = cursor.fetchone()[0]
    if owned:
        problems.append(f"{runtime} owns {owned} objects in this database (tables, functions, schemas)")
    return problems


class Command(BaseCommand):
    help = (
        "Print (or --apply) the SQL for the runtime database role: no ownership, SELECT and INSERT only on "
        "the audit table. Run as the owner of the portal's tables, after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("runtime_role", help="The role the web, workers and beat connect as, e.g. portal_app.")
        parser.add_argument(
            "--owner",
            help="The role that owns the tables and migrates (default: the audit table's owner, else the "
            "role this command connects as).",
        )
        parser.add_argument("--apply", action="store_true", help="Run the SQL now instead of printing it.")

    def handle(self, *args, runtime_role, owner=None, apply=False, **options):
        if connection.vendor != "postgresql":
            self.stdout.write(
                "Database roles are a PostgreSQL matter: the SQLite demo is one file with no roles; nothing to do."
            )
            return
        _ident(runtime_role)
        target = _owner_connection()
        try:
            with target.cursor() as cursor:
                cursor.execute(
                    "SELECT current_user, current_database(), (SELECT tableowner FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename = %s)",
                    [AuditEvent._meta.db_table],
                )
                current_user, database, table_owner = cursor.fetchone()
            owner = owner or table_owner or current_user
            if runtime_role in {owner, current_user}:
                raise CommandError(
                    f"The runtime role must not be the owner or the role running this command ({runtime_role})."
                )
            statements = runtime_role_sql(runtime=runtime_role, owner=owner, database=database)
            if not apply:
                self.stdout.write(
                    f"-- The runtime role {runtime_role} for database {database}, owned by {owner}.\n"
                    "-- Run as the owner (or a superuser) after every migrate; creating the role needs CREATEROLE.\n"
                    f"-- Set its password with: \\password {runtime_role}"
                )
                for statement in statements:
                    self.stdout.write(f"{statement};")
                return
            # One transaction: the grants stand only if the role they leave cannot disarm the audit.
            target.set_autocommit(False)
            with target.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                problems = runtime_role_problems(cursor, runtime=runtime_role, owner=owner)
            if problems:
                target.rollback()
                raise CommandError(f"{runtime_role} could disarm the audit: " + "; ".join(problems) + ".")
            target.commit()
        finally:
            target.close()
        self.stdout.write(
            f"{runtime_role}: granted on {database} (owner {owner}); the audit table allows it SELECT and INSERT only"
        )


def _owner_connection():
    """A connection of its own to the portal's database, as DATABASE_OWNER_URL's role when it is set
    (DATABASE_URL is then the runtime role), else as DATABASE_URL's; its own, so that the grants
    commit by themselves whatever the default connection is doing."""
    config = dict(connection.settings_dict)
    if settings.DATABASE_OWNER_URL:
        owner = dj_database_url.parse(settings.DATABASE_OWNER_URL)
        config.update(USER=owner["USER"], PASSWORD=owner.get("PASSWORD") or "")
    return ConnectionHandler({"default": config})["default"]
