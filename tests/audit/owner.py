"""The owner of the tables, as tests need it: to import events with the times a test wants, and to
play the attacker who owns the database and switches the audit triggers off.

The suite runs as the runtime role (make test), which can do neither: these helpers open a
connection of their own as DATABASE_OWNER_URL's role (or DATABASE_URL's when there is no separate
owner). What they write is committed, so the tests that use them are transactional, and the default
connection must hold no lock on the audit table while they run.
"""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import dj_database_url
import psycopg
from django.conf import settings
from django.db import connection
from psycopg.types.json import Jsonb

from investigations.models import CHAIN_FIELDS, AuditEvent, event_hash

TABLE = AuditEvent._meta.db_table
START = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = (*CHAIN_FIELDS, "hash")


@contextmanager
def owner_connection():
    url = getattr(settings, "DATABASE_OWNER_URL", "") or settings.DATABASE_URL
    owner = dj_database_url.parse(url)
    current = connection.settings_dict
    with psycopg.connect(
        dbname=current["NAME"],
        user=owner["USER"],
        password=owner.get("PASSWORD") or None,
        host=current["HOST"] or None,
        port=current["PORT"] or None,
        autocommit=True,
    ) as conn:
        yield conn


def as_owner_without_triggers(*statements):
    """Run (sql, params) pairs as the owner with the audit triggers off, as an owner could: the
    runtime role is refused ALTER TABLE (tests/core/test_db_roles.py)."""
    with owner_connection() as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        for statement, params in statements:
            cursor.execute(statement, params)
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def insert_without_triggers(events):
    """Insert AuditEvent objects exactly as given (seq, times and hashes), bypassing the chaining
    trigger: an import of chosen events, or an owner's forgery."""
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    statement = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    rows = [[Jsonb(e.data) if n == "data" else getattr(e, n) for n in COLUMNS] for e in events]
    with owner_connection() as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        cursor.executemany(statement, rows)
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def forged_event(seq, prev_hash, **fields):
    """Event `seq` as an attacker would write it after `prev_hash`: chained and hashed as the writer
    would, with `fields` set over plausible values (dated `seq` seconds after START)."""
    event = AuditEvent(
        seq=seq,
        created_at=START + timedelta(seconds=seq),
        actor_type="user",
        actor_id=str(seq % 7),
        actor_label=f"user{seq % 7}",
        action="message.viewed",
        target_type="message",
        target_id=f"msg-{seq}",
        outcome="success",
        reason=f"ticket INC-{seq}",
        request_id=f"req{seq:08d}",
        client_ip="10.0.0.1",
        user_agent="pytest",
        data={"n": seq, "criteria": {"from": "a@example.test"}},
        prev_hash=prev_hash,
    )
    for name, value in fields.items():
        setattr(event, name, value)
    event.hash = event_hash(event.chain_values())
    return event
