"""Chain version 2: PostgreSQL defines and computes the hash (investigations_audit_hash, and the
chaining trigger of migration 0008); models.event_hash is the same definition in Python. These
tests hold the two to byte-for-byte agreement and show the trigger chains whatever inserts a row."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investigations.audit.chain import audit_verify
from investigations.audit.services import audit_record
from investigations.models import CHAIN_FIELDS, GENESIS_HASH, AuditEvent, event_hash

pytestmark = pytest.mark.django_db

# PostgreSQL text cannot hold NUL; everything else, control characters and all, is fair game.
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


def _values(**overrides):
    values = {
        "seq": 7,
        "created_at": datetime(2026, 11, 22, 10, 30, 1, 123456, tzinfo=UTC),
        "actor_type": "user",
        "actor_id": "3",
        "actor_label": "alice",
        "action": "message.viewed",
        "target_type": "message",
        "target_id": "<a@b>",
        "outcome": "success",
        "reason": "INC-1",
        "request_id": "r1",
        "client_ip": "10.0.0.1",
        "user_agent": "ua",
        "data": {},
        "prev_hash": GENESIS_HASH,
    }
    values.update(overrides)
    return values


def _database_hash(values):
    """What PostgreSQL computes for these values, the payload going through jsonb as stored."""
    columns = []
    params = []
    for name in CHAIN_FIELDS:
        columns.append("%s::jsonb" if name == "data" else "%s")
        params.append(json.dumps(values[name]) if name == "data" else values[name])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT investigations_audit_hash({', '.join(columns)})", params)
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"reason": 'quotes " and \\ backslash, CR\r LF\n tab\t bell\x07 esc\x1b[31m del\x7f'},
        {"actor_label": "Zoë 東京 🦊 \u2028\u2029"},
        {"data": {"é": 1, "zz": 2, "a": 3, "bb": {"y": [1, 2.5, None, True, False]}}},
        {"data": {"small": 1e-07, "big": 1e20, "sum": 0.1 + 0.2, "neg": -0.0, "int": 10**25}},
        {"created_at": datetime(2026, 3, 29, 2, 30, tzinfo=UTC) + timedelta(hours=5, microseconds=1)},
        {"seq": 9_007_199_254_740_993, "data": []},
    ],
    ids=["plain", "escapes", "unicode", "key-order", "numbers", "time", "big-seq"],
)
def test_python_and_postgresql_hash_the_same_bytes(overrides):
    values = _values(**overrides)
    assert event_hash(values) == _database_hash(values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=TEXT, label=TEXT, data=st.dictionaries(TEXT, JSON, max_size=5))
def test_python_and_postgresql_agree_on_arbitrary_text_and_payloads(reason, label, data):
    values = _values(reason=reason, actor_label=label, data=data)
    # Stored payloads are read back from jsonb: hash what PostgreSQL would hand back.
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [json.dumps(data)])
        values["data"] = json.loads(cursor.fetchone()[0])
    assert event_hash(values) == _database_hash(values)


def test_the_trigger_chains_a_row_inserted_by_raw_sql_whatever_it_claims():
    first = audit_record(actor=None, action="test.first", target=None)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO investigations_auditevent (seq, prev_hash, hash, created_at, actor_type, actor_id,"
            " actor_label, action, target_type, target_id, outcome, reason, request_id, client_ip, user_agent,"
            " data) VALUES (999, 'forged-prev', 'forged-hash', now(), 'system', '', 'raw', 'test.raw', '', '',"
            " 'success', '', '', '', '', '{}') RETURNING seq, prev_hash, hash"
        )
        seq, prev_hash, stored = cursor.fetchone()
    raw = AuditEvent.objects.get(seq=seq)
    assert seq == first.seq + 1
    assert prev_hash == first.hash
    assert stored == raw.computed_hash() != "forged-hash"
    assert audit_verify(checkpoints_kept=False).ok


def test_the_writer_reads_back_what_the_trigger_set():
    event = audit_record(actor=None, action="test.event", target=None, data={"k": [1, "two"]})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (event.seq, event.prev_hash, event.hash) == (stored.seq, stored.prev_hash, stored.hash)
    assert event.hash == event_hash(stored.chain_values())
