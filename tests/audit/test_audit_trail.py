import threading

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from investigations.audit.chain import audit_verify
from investigations.audit.services import audit_record
from investigations.models import GENESIS_HASH, AuditEvent, AuditOutcome
from tests.audit.owner import owner_connection


def _record(n=1, **extra):
    with transaction.atomic():
        return [
            audit_record(actor=None, action="test.event", target=("thing", i), data={"i": i}, **extra) for i in range(n)
        ]


def test_events_chain_from_the_genesis_hash(db):
    first, second = _record(2)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert second.hash == second.computed_hash()


def test_the_returned_event_is_the_stored_row(db):
    # On PostgreSQL the writer inserts without Model.save() and reads back what the database set.
    _record(1)
    (event,) = _record(1, reason="why", outcome=AuditOutcome.FAILURE)
    stored = AuditEvent.objects.get(pk=event.pk)
    for field in AuditEvent._meta.concrete_fields:
        assert getattr(event, field.attname) == getattr(stored, field.attname), field.name
    assert (event.seq, event.reason, event.data) == (2, "why", {"i": 0})
    assert event.created_at.utcoffset() is not None
    assert not event._state.adding


def test_secrets_in_the_payload_are_redacted(db):
    (event,) = [
        audit_record(
            actor=None,
            action="test.event",
            target=None,
            data={"password": "p", "nested": {"client_secret": "s", "ok": 1}},
        )
    ]
    event.refresh_from_db()
    assert event.data == {"nested": {"client_secret": "[redacted]", "ok": 1}, "password": "[redacted]"}


def test_an_action_whose_transaction_rolls_back_leaves_no_event(db):
    from investigations.models import User

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        User.objects.create(username="temp")
        audit_record(actor=None, action="test.event", target=("user", "temp"))
        raise Boom
    assert AuditEvent.objects.count() == 0
    assert not User.objects.filter(username="temp").exists()


def test_the_action_fails_when_its_event_cannot_be_written(db):
    from investigations.models import User

    with pytest.raises(DatabaseError), transaction.atomic():
        User.objects.create(username="temp")
        # An outcome longer than the column: the event insert fails, and so must the action.
        audit_record(actor=None, action="test.event", target=None, outcome="x" * 100)
    assert not User.objects.filter(username="temp").exists()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE investigations_auditevent SET reason = 'changed'",
        "DELETE FROM investigations_auditevent",
        "TRUNCATE investigations_auditevent",
        "TRUNCATE investigations_auditevent CASCADE",
    ],
)
@pytest.mark.django_db(transaction=True)
def test_raw_sql_cannot_change_or_remove_events_even_as_the_owner(statement):
    # The owner of the tables is refused by the triggers (the runtime role the portal runs as is
    # refused by its grants before them: tests/core/test_db_roles.py).
    _record(3)
    with pytest.raises(psycopg.Error, match="append-only"), owner_connection() as owner:
        owner.execute(statement)
    assert AuditEvent.objects.count() == 3


# Refused by the triggers, or by the grants first when the suite runs as the runtime role.
REFUSED = "append-only|permission denied"


def test_the_orm_cannot_change_or_remove_events(db):
    (event,) = _record(1)
    event.reason = "rewritten"
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.update(outcome=AuditOutcome.FAILURE)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.all().delete()
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        event.delete()
    event.refresh_from_db()
    assert event.reason == ""
    assert audit_verify(checkpoints_kept=False).ok


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_writers_leave_a_valid_chain():
    writers = 50
    barrier = threading.Barrier(writers)
    errors = []

    def write(n):
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                audit_record(actor=f"writer-{n}", action="test.concurrent", target=("writer", n))
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEvent.objects.count() == writers
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, writers + 1))
    result = audit_verify(checkpoints_kept=False)
    assert result.ok, result.problem
    assert result.checked == writers
