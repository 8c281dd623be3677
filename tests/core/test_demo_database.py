"""The demo runs on SQLite; its audit table must be append-only too."""

import os
import sqlite3
import subprocess
import sys

import pytest
from django.conf import settings

# Four more Django processes (migrate, demo_setup, audit_checkpoint, verify_audit) on a fresh SQLite file.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory):
    var = tmp_path_factory.mktemp("demo-var")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(PORTAL_VAR_DIR=str(var), DEBUG="false")
    for command in (["migrate", "--noinput", "-v", "0"], ["demo_setup"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=settings.BASE_DIR, env=env, check=True, capture_output=True
        )
    return var / "demo.sqlite3", env


# What demo_setup records: the five demo users' roles, then for the approver and the admin their
# authenticator app and their recovery codes.
DEMO_EVENTS = 5 + 2 * 2


@pytest.mark.parametrize(
    "statement",
    ["UPDATE investigations_auditevent SET reason = 'x'", "DELETE FROM investigations_auditevent"],
)
def test_the_sqlite_audit_table_refuses_changes(demo_database, statement):
    path, _env = demo_database
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM investigations_auditevent").fetchone()[0] == DEMO_EVENTS
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)


def test_the_demo_chain_verifies_on_sqlite(demo_database):
    _path, env = demo_database
    # The demo's beat writes a checkpoint every minute; a verification needs one to vouch for the chain.
    subprocess.run(
        [sys.executable, "manage.py", "audit_checkpoint"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert f"checked {DEMO_EVENTS} events" in result.stdout
