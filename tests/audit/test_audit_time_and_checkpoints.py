"""The database dates audit events, verification checks that times never go backwards, and a chain
without any signed checkpoint does not pass as verified."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from investigations.audit.chain import audit_checkpoint_write, audit_verify
from investigations.audit.services import audit_record
from investigations.models import AuditEvent, event_hash
from tests.audit.owner import forged_event, insert_without_triggers
from tests.polling import poll_until

FORGED_INSERT = (
    "INSERT INTO investigations_auditevent (created_at, actor_type, actor_id, actor_label, action, target_type,"
    " target_id, outcome, reason, request_id, client_ip, user_agent, data)"
    " VALUES (now() - interval '30 days', 'user', '7', 'mallory', 'remediation.approved', '', '', 'success',"
    " 'approved long ago', '', '', '', '{}') RETURNING id"
)


def _verify(**settings_overrides):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except CommandError as failure:
        assert failure.returncode == 1
        return False, out.getvalue(), err.getvalue()
    return True, out.getvalue(), err.getvalue()


def test_an_insert_dated_thirty_days_back_gets_the_database_time(db):
    first = audit_record(actor=None, action="test.first", target=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (transaction_start,) = cursor.fetchone()
        cursor.execute(FORGED_INSERT)
        (event_id,) = cursor.fetchone()
    forged = AuditEvent.objects.get(pk=event_id)
    # Dated by the database when it was appended: not 30 days back, and not before the event before it.
    assert forged.created_at >= transaction_start
    assert forged.created_at >= first.created_at
    assert forged.hash == event_hash(forged.chain_values())


def test_the_writer_reads_back_the_time_the_database_set(db):
    event = audit_record(actor=None, action="test.event", target=None)
    assert event.created_at == AuditEvent.objects.get(pk=event.pk).created_at


@pytest.mark.django_db(transaction=True)
def test_times_follow_seq_order_across_concurrent_transactions():
    # The earlier transaction takes the chain lock later: now() would date its event before the
    # other's; the time read under the lock does not.
    from threading import Event, Thread

    started, appended = Event(), Event()

    def later_writer():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT now()")
            started.set()
            appended.wait(timeout=10)
            audit_record(actor=None, action="test.second", target=None)
        connection.close()

    thread = Thread(target=later_writer)
    thread.start()
    started.wait(timeout=10)
    audit_record(actor=None, action="test.first", target=None)
    appended.set()
    thread.join()
    first, second = AuditEvent.objects.order_by("seq")
    assert (first.action, second.action) == ("test.first", "test.second")
    assert second.created_at >= first.created_at
    audit_checkpoint_write()
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_an_event_dated_before_the_one_before_it_fails_verification():
    head = audit_record(actor=None, action="test.first", target=None)
    # An owner with the triggers off appends an event that chains and hashes correctly, dated back.
    forged = forged_event(head.seq + 1, head.hash, created_at=head.created_at - timedelta(days=30))
    insert_without_triggers([forged])
    audit_checkpoint_write()
    ok, _out, err = _verify()
    assert not ok
    assert f"FIRST BAD EVENT: event seq={forged.seq}" in err
    assert "its time is before the time of the event before it" in err


def test_events_without_any_checkpoint_fail_verification(db):
    audit_record(actor=None, action="test.event", target=None)
    ok, out, err = _verify()
    assert not ok
    assert "CHECKPOINT: no signed checkpoint" in err
    assert "audit chain OK" not in out


def test_checkpoints_deliberately_not_kept_pass_and_say_so(db, settings):
    settings.AUDIT_CHECKPOINTS_KEPT = False
    audit_record(actor=None, action="test.event", target=None)
    ok, out, _err = _verify()
    assert ok
    assert "no checkpoints (AUDIT_CHECKPOINTS_KEPT=false)" in out
    assert "audit chain OK" in out


def test_an_empty_trail_needs_no_checkpoint(db):
    ok, out, _err = _verify()
    assert ok and "checked 0 events" in out


def test_verification_reports_the_age_of_the_newest_checkpoint(db):
    for n in range(3):
        audit_record(actor=None, action="test.event", target=("n", n))
    checkpoint = audit_checkpoint_write()
    audit_record(actor=None, action="test.event", target=("n", 3))
    ok, out, _err = _verify()
    assert ok
    assert f"newest checkpoint: seq {checkpoint.seq}, written {checkpoint.created_at} (" in out
    assert " ago); 1 events since" in out


WORKER_SETTINGS = {"AUDIT_CHECKPOINT_EVERY": 5}


def test_a_checkpoint_is_written_every_n_events_as_well_as_every_interval(worker, settings):
    for n in range(12):
        with transaction.atomic():
            audit_record(actor=None, action="test.event", target=("n", n))
    directory = settings.AUDIT_CHECKPOINT_DIR
    written = poll_until(
        lambda: sorted(p.name for p in directory.glob("checkpoint-*.json")) if directory.is_dir() else [],
        lambda names: len(names) >= 2,
        timeout=30,
    )
    # Queued at seq 5 and 10; each records the head when the worker ran it, never behind its mark.
    seqs = [int(name.removeprefix("checkpoint-").removesuffix(".json")) for name in written]
    assert seqs[0] >= 5 and seqs[-1] >= 10
    assert audit_verify().ok
