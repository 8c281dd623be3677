"""Web security events: ingested from the SIEM batch stream by the periodic task, searched locally."""

import csv
import io
import time

import pytest
from django.urls import reverse

from investigations.models import AuditAction, AuditEvent, WebSecurityEvent
from investigations.tools.tasks import web_security_ingest as ingest_task
from investigations.tools.web_security import event_row, web_security_ingest, web_security_store

BATCH_PATH = "/siem/v1/batch/events/cg"


@pytest.fixture
def ingested(sim_v2):
    result = ingest_task.apply().get()
    assert result["error"] == ""
    return sim_v2


def test_the_task_ingests_the_web_security_events_including_the_c2_domain(ingested):
    expected = len(ingested.state.web_events)
    assert WebSecurityEvent.objects.count() == expected
    c2 = ingested.state.story["c2_domain"]
    assert WebSecurityEvent.objects.filter(domain=c2).count() == 6
    assert WebSecurityEvent.objects.filter(domain=c2, action="blocked", category="Command and Control").count() == 4


def test_ingestion_is_idempotent(ingested):
    before = WebSecurityEvent.objects.count()
    again = web_security_ingest()
    assert again.error == "" and again.stored > 0
    assert WebSecurityEvent.objects.count() == before


def test_ingestion_asks_only_for_web_security_events(ingested):
    calls = ingested.calls_to(BATCH_PATH)
    assert calls
    assert {c.query.get("type") for c in calls} == {"web security"}


def test_a_mimecast_failure_during_ingestion_is_reported_not_raised(sim_v2):
    sim_v2.faults.add(path=BATCH_PATH, kind="status", status=503, count=None)
    result = web_security_ingest()
    assert "Mimecast had an internal problem" in result.error
    assert WebSecurityEvent.objects.count() == 0


def test_ingestion_on_api_1_credentials_says_it_needs_api_2(mimecast_env, db):
    result = web_security_ingest()
    assert "API 2.0" in result.error


def test_malformed_events_are_skipped(db):
    stored, skipped = web_security_store(
        [
            {"type": "web security", "timestamp": 1_700_000_000_000, "user": "A@X.COM", "domain": "Evil.Example"},
            {"type": "web security", "timestamp": "not a date"},
            {"type": "receipt", "timestamp": 1_700_000_000_000},
            "not even a dict",
        ]
    )
    assert (stored, skipped) == (1, 3)
    event = WebSecurityEvent.objects.get()
    assert event.user == "a@x.com" and event.domain == "evil.example"
    assert event_row({"type": "web security", "timestamp": 1e30}) is None


def test_the_c2_domain_is_found_by_domain_user_category_and_action(client, analyst, ingested):
    client.force_login(analyst)
    c2 = ingested.state.story["c2_domain"]
    response = client.get(reverse("tools-web-security"), {"window": "7d", "site": c2})
    events = response.context["events"]
    assert len(events) == 6
    assert c2 in response.content.decode()
    victim = events[0].user
    by_user = client.get(reverse("tools-web-security"), {"window": "7d", "user": victim, "site": c2})
    assert {e.user for e in by_user.context["events"]} == {victim}
    blocked = client.get(
        reverse("tools-web-security"), {"window": "7d", "category": "command and control", "action": "blocked"}
    )
    assert len(blocked.context["events"]) == 4
    by_url = client.get(reverse("tools-web-security"), {"window": "7d", "site": "stage2.ps1"})
    assert len(by_url.context["events"]) == 3
    assert AuditEvent.objects.filter(action=AuditAction.SEARCH_WEB_SECURITY).count() == 4


def test_web_security_results_page_by_keyset_without_gaps_or_repeats(client, analyst, ingested):
    client.force_login(analyst)
    seen = []
    query = {"window": "30d", "action": "blocked"}
    response = client.get(reverse("tools-web-security"), query)
    while True:
        seen += [e.pk for e in response.context["events"]]
        if not response.context["next_url"]:
            break
        response = client.get(response.context["next_url"])
    expected = list(
        WebSecurityEvent.objects.filter(action="blocked").order_by("-occurred_at", "-id").values_list("pk", flat=True)
    )
    assert seen == expected and len(seen) > 50


def test_web_security_export_streams_every_match_and_round_trips(client, analyst, ingested):
    client.force_login(analyst)
    c2 = ingested.state.story["c2_domain"]
    response = client.get(reverse("tools-web-security-export"), {"window": "7d", "site": c2})
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["Time (UTC)", "User", "Action"]
    assert len(rows) == 7
    assert {r[4] for r in rows[1:]} == {c2}
    assert AuditEvent.objects.get(action=AuditAction.TOOLS_EXPORTED).data["kind"] == "web-security"


@pytest.mark.parametrize(
    "params",
    [{"page": "12:ab"}, {"page": "x" * 100}, {"user": "a\x00b"}, {"site": "s" * 5000}, {"action": "maybe"}],
)
def test_bad_web_security_filters_are_field_errors(client, analyst, db, params):
    client.force_login(analyst)
    response = client.get(reverse("tools-web-security"), params)
    assert response.status_code == 200
    assert response.context["form"].errors


def test_a_second_ingestion_while_one_runs_does_nothing(sim_v2):
    from django.db import connections

    from investigations.tools import web_security

    # Another database session holds the lock, as a still-running task would.
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [web_security._INGEST_LOCK_ID])
        result = web_security_ingest()
        assert "still running" in result.error
        assert sim_v2.calls_to(BATCH_PATH) == []
    finally:
        other.close()
    _wait_until_unlocked(web_security._INGEST_LOCK_ID)
    assert web_security_ingest().error == ""


def _wait_until_unlocked(lock_id, timeout=10):
    """PostgreSQL frees a closed session's advisory locks when its backend has exited, a moment after
    the client hung up: wait for that, or the next run would rightly find the lock still held. Only
    this database's locks count: advisory locks are per database, and pg_locks lists every database's,
    so another test run on the same server taking the same lock must not keep this one waiting."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [lock_id],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)
