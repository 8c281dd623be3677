import functools
import io

import pytest
from django.core.management import CommandError, call_command

from investigations.audit.chain import audit_checkpoint_write, audit_verify
from investigations.models import GENESIS_HASH, AuditEvent
from tests.audit.owner import as_owner_without_triggers, forged_event, insert_without_triggers

# Every test seeds and verifies a chain of ten thousand events: seconds each. Transactional: the
# attacker is the owner of the tables, on a connection of its own, and sees committed rows only.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SIZE = 10_000


@functools.cache
def _forged_chain(n):
    """A valid chain's field values, built with the same hashing the writer uses; hashed once for the
    module, since every test seeds the same chain and hashing it takes seconds."""
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        event = forged_event(seq, prev)
        rows.append({f.attname: getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields})
        prev = event.hash
    return rows


def _seed(n=SIZE):
    """The chain, inserted in bulk for speed; the trigger chains and dates every row, so the
    events are read back as stored."""
    AuditEvent.objects.bulk_create([AuditEvent(**row) for row in _forged_chain(n)], batch_size=2000)
    return list(AuditEvent.objects.order_by("seq"))


# The attacker's view: the owner of the tables, who switches the append-only triggers off.
_as_superuser_without_triggers = as_owner_without_triggers


def _verify_fails():
    err = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", stdout=io.StringIO(), stderr=err)
    assert failure.value.returncode == 1
    return err.getvalue()


@pytest.fixture
def chain(transactional_db):
    events = _seed()
    audit_checkpoint_write()
    return events


def test_a_clean_chain_of_ten_thousand_events_verifies(chain):
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert f"checked {SIZE} events" in out.getvalue()
    assert "audit chain OK" in out.getvalue()


def test_the_real_writer_continues_a_seeded_chain(chain):
    from investigations.audit.services import audit_record

    event = audit_record(actor=None, action="test.event", target=None)
    assert event.seq == SIZE + 1
    assert event.prev_hash == chain[-1].hash
    assert audit_verify().ok


def test_it_names_an_edited_event(chain):
    _as_superuser_without_triggers(
        ("UPDATE investigations_auditevent SET reason = 'nothing to see' WHERE seq = 4321", [])
    )
    report = _verify_fails()
    assert "FIRST BAD EVENT: event seq=4321" in report
    assert "edited" in report


def test_it_names_the_event_after_a_deleted_one(chain):
    _as_superuser_without_triggers(("DELETE FROM investigations_auditevent WHERE seq = 5000", []))
    report = _verify_fails()
    assert "FIRST BAD EVENT: event seq=5001" in report
    assert "events 5000..5000 are missing" in report


def test_it_names_the_event_after_an_inserted_one(chain):
    forged = forged_event(
        5001, chain[4999].hash, reason="forged", target_id="msg-forged", created_at=chain[4999].created_at
    )
    _as_superuser_without_triggers(
        ("UPDATE investigations_auditevent SET seq = -seq WHERE seq > 5000", []),
        ("UPDATE investigations_auditevent SET seq = -seq + 1 WHERE seq < 0", []),
    )
    # With the triggers on, the chaining trigger would append it properly at the head instead.
    insert_without_triggers([forged])
    report = _verify_fails()
    assert "FIRST BAD EVENT: event seq=5002" in report
    assert "does not link to the event before it" in report


def test_it_names_two_swapped_events(chain):
    _as_superuser_without_triggers(
        ("UPDATE investigations_auditevent SET seq = -1 WHERE seq = 7000", []),
        ("UPDATE investigations_auditevent SET seq = 7000 WHERE seq = 7001", []),
        ("UPDATE investigations_auditevent SET seq = 7001 WHERE seq = -1", []),
    )
    report = _verify_fails()
    assert "FIRST BAD EVENT: event seq=7000" in report
    assert "reordered" in report


def test_it_reports_a_truncated_tail_against_the_last_checkpoint(chain):
    _as_superuser_without_triggers(("DELETE FROM investigations_auditevent WHERE seq > %s", [SIZE - 25]))
    report = _verify_fails()
    assert f"the chain ends at seq {SIZE - 25}, behind checkpoint" in report
    assert "truncated tail" in report


def test_a_fully_recomputed_chain_still_fails_against_the_checkpoint(chain):
    # The attacker edits one event and recomputes every hash after it: the rows agree with each
    # other again, but not with the signed checkpoint kept outside the database.
    rebuilt, prev = [], chain[2999].hash
    for original in chain[3000:]:
        fields = {"reason": "rewritten"} if original.seq == 3001 else {}
        event = forged_event(original.seq, prev, created_at=original.created_at, **fields)
        rebuilt.append(event)
        prev = event.hash
    _as_superuser_without_triggers(("DELETE FROM investigations_auditevent WHERE seq > 3000", []))
    insert_without_triggers(rebuilt)
    report = _verify_fails()
    assert "FIRST BAD EVENT" not in report
    assert f"event seq={SIZE} does not match checkpoint" in report


def test_a_checkpoint_with_a_bad_signature_is_reported(chain, settings):
    path = next(settings.AUDIT_CHECKPOINT_DIR.glob("checkpoint-*.json"))
    path.write_text(path.read_text().replace('"seq": 10000', '"seq": 9999'))
    report = _verify_fails()
    assert "has a bad signature" in report


def test_checkpoints_are_written_only_when_the_head_moves(chain, settings):
    assert audit_checkpoint_write().seq == SIZE
    assert len(list(settings.AUDIT_CHECKPOINT_DIR.glob("checkpoint-*.json"))) == 1
