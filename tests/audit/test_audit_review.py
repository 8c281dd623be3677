"""Audit review: auditors find, read, export and verify every event."""

import csv
import io
import json
import os
import re
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils.html import escape

from investigations.audit.chain import audit_checkpoint_write, audit_verify
from investigations.audit.services import audit_record
from investigations.audit.verification import audit_verification_execute, audit_verification_start
from investigations.models import (
    AUDIT_ACTION_GROUPS,
    CHAIN_FIELDS,
    GENESIS_HASH,
    AuditAction,
    AuditEvent,
    AuditVerificationRun,
    audit_action_group,
    event_hash,
)
from tests.factories import UserFactory
from tests.polling import poll_until

HTMX = {"HX-Request": "true"}
# The trails here are dated as each test needs, and the database dates every event it appends: so
# these tests run as the owner of the tables, who imports events with the chaining trigger off inside
# the test's own transaction (rolled back with it). What the runtime role may do is proven in
# tests/core/test_db_roles.py.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_table_owner")]


def at(day, hour=9):
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def append_events(*specs):
    """Append events with a valid chain, as the writer would hash them, in one insert as the owner.
    A spec may name `actor` (a user) instead of the actor fields."""
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev = head if head else (0, GENESIS_HASH)
    events = []
    for spec in specs:
        spec = dict(spec)
        actor = spec.pop("actor", None)
        seq += 1
        values = {
            "created_at": datetime.now(UTC),
            "actor_type": "system",
            "actor_id": "",
            "actor_label": "web",
            "action": "system.ping",
            "target_type": "",
            "target_id": "",
            "outcome": "success",
            "reason": "",
            "request_id": f"req{seq:06d}",
            "client_ip": "10.0.0.9",
            "user_agent": "pytest",
            "data": {},
        }
        if actor is not None:
            values.update(actor_type="user", actor_id=str(actor.pk), actor_label=actor.username)
        values.update(spec, seq=seq, prev_hash=prev)
        prev = event_hash({name: values[name] for name in CHAIN_FIELDS})
        events.append(AuditEvent(**values, hash=prev))
    without_audit_triggers(lambda: AuditEvent.objects.bulk_create(events, batch_size=2000))
    return events


def seqs_in(response):
    """The seq of every event row on a list page, in page order."""
    html = response.content.decode()
    return [int(n) for n in re.findall(r'<a href="/audit/event/(\d+)/" title="Event detail">', html)]


def without_audit_triggers(write):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE investigations_auditevent DISABLE TRIGGER USER")
    try:
        write()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE investigations_auditevent ENABLE TRIGGER USER")


def as_owner_without_triggers(statement):
    # The attacker: the owner of the tables, who switches the append-only triggers off.
    def run():
        with connection.cursor() as cursor:
            cursor.execute(statement)

    without_audit_triggers(run)


@pytest.fixture
def auditor_client(client, auditor):
    # Signing in is itself audited: this is event 0 of the trail below (auth.login, now).
    client.force_login(auditor)
    return client


@pytest.fixture
def trail(auditor_client, personas, second_analyst):
    """Ten events, one per kind of thing that happens, a day apart at 09:00 UTC, after the
    auditor's own sign-in (event 0)."""
    signed_in = AuditEvent.objects.get(action="auth.login", actor_label="dave").seq
    alice, bob = personas["analyst"], second_analyst
    carol, dave, erin = personas["approver"], personas["auditor"], personas["admin"]
    events = append_events(
        {
            "actor": alice,
            "action": "auth.login",
            "target_type": "user",
            "target_id": str(alice.pk),
            "created_at": at(1),
        },
        {"actor": alice, "action": "search.track_and_trace", "reason": "INC-1 phishing wave", "created_at": at(2)},
        {
            "actor": bob,
            "action": "message.viewed",
            "target_type": "message",
            "target_id": "<m1@mail.example.test>",
            "reason": "inc-1 look at the lure",
            "created_at": at(3),
        },
        {
            "actor": bob,
            "action": "message.downloaded",
            "target_type": "message",
            "target_id": "<m1@mail.example.test>",
            "outcome": "failure",
            "created_at": at(4),
        },
        {
            "actor": carol,
            "action": "remediation.requested",
            "target_type": "remediationrequest",
            "target_id": "7",
            "reason": "pull INC-2",
            "created_at": at(5),
        },
        {
            "actor": dave,
            "action": "remediation.approved",
            "target_type": "remediationrequest",
            "target_id": "7",
            "created_at": at(6),
        },
        {
            "actor_type": "system",
            "actor_label": "task:investigations.tasks.remediation_execute",
            "action": "task.attempt",
            "target_type": "remediationrequest",
            "target_id": "7",
            "outcome": "error",
            "created_at": at(7),
        },
        {
            "actor": erin,
            "action": "settings.mimecast_changed",
            "target_type": "mimecastconnection",
            "target_id": "1",
            "created_at": at(8),
        },
        {"actor": dave, "action": "audit.exported", "target_type": "audit", "target_id": "export", "created_at": at(9)},
        {
            "actor_type": "anonymous",
            "actor_label": "",
            "action": "auth.login_failed",
            "outcome": "denied",
            "created_at": at(10),
        },
    )
    return {0: signed_in} | {n + 1: event.seq for n, event in enumerate(events)}


FILTER_CASES = {
    # one filter alone
    "actor by username": ({"actor": "alice"}, [2, 1]),
    "actor anonymous": ({"actor": "anonymous"}, [10]),
    "actor by system label": ({"actor": "task:investigations.tasks.remediation_execute"}, [7]),
    "group authentication": ({"group": "authentication"}, [10, 1, 0]),
    "group search": ({"group": "search"}, [2]),
    "group view": ({"group": "view"}, [3]),
    "group download": ({"group": "download"}, [4]),
    "group request": ({"group": "request"}, [5]),
    "group approval": ({"group": "approval"}, [6]),
    "group execution": ({"group": "execution"}, [7]),
    "group settings": ({"group": "settings"}, [8]),
    "group export": ({"group": "export"}, [9]),
    "exact action": ({"action": "message.viewed"}, [3]),
    "target type": ({"target_type": "remediationrequest"}, [7, 6, 5]),
    "target type and id": ({"target_type": "message", "target_id": "<m1@mail.example.test>"}, [4, 3]),
    "outcome": ({"outcome": "failure"}, [4]),
    "reason text, any case": ({"reason": "inc-1"}, [3, 2]),
    "time range": ({"since": "2026-01-05", "until": "2026-01-07"}, [6, 5]),
    "since only": ({"since": "2026-01-09 09:00"}, [10, 9, 0]),
    # in combination
    "actor and group": ({"actor": "bob", "group": "download"}, [4]),
    "target, group and outcome": (
        {"target_type": "remediationrequest", "group": "approval", "outcome": "success"},
        [6],
    ),
    "reason, actor and time": ({"reason": "INC", "actor": "alice", "until": "2026-01-02 09:00"}, [2]),
    "target and time": ({"target_type": "remediationrequest", "target_id": "7", "since": "2026-01-06"}, [7, 6]),
    "everything at once, nothing matches": ({"actor": "alice", "group": "approval", "outcome": "error"}, []),
}


@pytest.mark.parametrize(("criteria", "expected"), FILTER_CASES.values(), ids=FILTER_CASES.keys())
def test_each_filter_alone_and_in_combination_returns_exactly_the_right_events(
    auditor_client, trail, criteria, expected
):
    response = auditor_client.get(reverse("audit-list"), criteria)
    assert response.status_code == 200
    assert seqs_in(response) == [trail[n] for n in expected]


def test_the_time_range_is_read_in_the_users_time_zone(client, db):
    append_events({"action": "auth.login", "created_at": datetime(2026, 1, 5, 3, 0, tzinfo=UTC)})
    in_new_york = UserFactory(username="nyc", roles=["auditor"], time_zone="America/New_York")
    in_utc = UserFactory(username="utc", roles=["auditor"])
    # 03:00 UTC on 5 January is still the evening of the 4th in New York.
    client.force_login(in_utc)
    day = {"since": "2026-01-05", "until": "2026-01-06"}
    assert seqs_in(client.get(reverse("audit-list"), day)) == [1]
    client.force_login(in_new_york)
    assert seqs_in(client.get(reverse("audit-list"), day)) == []
    assert seqs_in(client.get(reverse("audit-list"), {"until": "2026-01-04 23:00"})) == [1]


BAD_INPUT = {
    "a date that is not one": ({"since": "last tuesday"}, "since", "Enter a valid date/time"),
    "an end before the start": ({"since": "2026-02-01", "until": "2026-01-01"}, "until", "before its start"),
    "an unknown action": ({"action": "message.teleported"}, "action", "No event has the action"),
    "an action that is not an action name": ({"action": "'; DROP TABLE x"}, "action", "No event has the action"),
    "a target id without its type": ({"target_id": "7"}, "target_type", "Give the target type too"),
    "an unknown outcome": ({"outcome": "maybe"}, "outcome", "Select a valid choice"),
    "an unknown group": ({"group": "gossip"}, "group", "Select a valid choice"),
}


@pytest.mark.parametrize(("params", "field", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_filter_input_gets_a_message_next_to_its_field_never_a_500(client, auditor, trail, params, field, message):
    client.force_login(auditor)
    page = client.get(reverse("audit-list"), params)
    assert page.status_code == 400
    html = page.content.decode()
    error = re.search(rf'<p class="field-error" id="id_{field}-error">(.*?)</p>', html)
    assert error and message in error.group(1).replace("&#x27;", "'")
    # The same in place, for htmx: the form region comes back with the message.
    partial = client.get(reverse("audit-list"), params, headers={**HTMX, "HX-Target": "audit-main"})
    assert partial.status_code == 200
    assert f'id="id_{field}-error"' in partial.content.decode()
    assert "<html" not in partial.content.decode()


def test_a_non_numeric_page_cursor_says_so_plainly(client, auditor, trail):
    client.force_login(auditor)
    for cursor in ("abc", "-5", "0", "9" * 40):
        response = client.get(reverse("audit-list"), {"before": cursor})
        assert response.status_code == 400
        assert "That page position is not valid" in response.content.decode()


def test_keyset_pages_neither_skip_nor_repeat_while_new_events_arrive(client, auditor):
    append_events(*({"action": "message.viewed", "target_type": "message", "target_id": f"m{n}"} for n in range(130)))
    existing = set(AuditEvent.objects.values_list("seq", flat=True))
    client.force_login(auditor)
    response = client.get(reverse("audit-list"), {"group": "view"})
    seen = seqs_in(response)
    pages = 1
    while True:
        # New events land between every page turn, some matching the filter.
        audit_record(actor=None, action="message.viewed", target=("message", f"new{pages}"))
        audit_record(actor=None, action="auth.login", target=None)
        match = re.search(r'id="older-row".*?before=(\d+)"', response.content.decode(), re.S)
        if not match:
            break
        response = client.get(
            reverse("audit-list"),
            {"group": "view", "before": match.group(1)},
            headers={**HTMX, "HX-Target": "older-row"},
        )
        seen += seqs_in(response)
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert set(seen) == existing, "a row was skipped, or a new one slipped into an older page"
    assert seen == sorted(seen, reverse=True)


def test_viewing_the_list_is_audited_once_per_search_not_per_page(client, auditor):
    append_events(*({"action": "message.viewed"} for _ in range(120)))
    client.force_login(auditor)
    first = client.get(reverse("audit-list"), {"group": "view"})
    cursor = re.search(r"before=(\d+)", first.content.decode()).group(1)
    client.get(reverse("audit-list"), {"group": "view", "before": cursor}, headers={**HTMX, "HX-Target": "older-row"})
    viewed = AuditEvent.objects.filter(action=AuditAction.AUDIT_VIEWED)
    assert viewed.count() == 1
    assert viewed.get().data == {"filter": {"group": "view"}}
    assert viewed.get().actor_label == "dave"


def test_the_filter_updates_in_place_and_the_address_carries_it(client, auditor, trail):
    client.force_login(auditor)
    page = client.get(reverse("audit-list")).content.decode()
    assert 'hx-get="/audit/"' in page and 'hx-push-url="true"' in page and 'hx-target="#audit-main"' in page
    partial = client.get(reverse("audit-list"), {"outcome": "failure"}, headers={**HTMX, "HX-Target": "audit-main"})
    assert "<html" not in partial.content.decode()
    assert seqs_in(partial) == [trail[4]]
    # The export links carry the same filter.
    assert "/audit/export.csv?outcome=failure" in partial.content.decode()


def test_each_row_links_to_its_target_timeline_and_its_detail(client, auditor, trail):
    client.force_login(auditor)
    html = client.get(reverse("audit-list"), {"target_type": "message"}).content.decode()
    assert f'href="/audit/event/{trail[3]}/"' in html
    assert 'href="/audit/target/message/%3Cm1@mail.example.test%3E/"' in html


def test_the_event_detail_shows_every_field_the_payload_and_its_place_in_the_chain(client, auditor, trail):
    event = append_events(
        {"action": "message.viewed", "reason": "INC-9", "data": {"mailbox": "x@example.test", "n": [1, 2]}}
    )[0]
    client.force_login(auditor)
    html = client.get(reverse("audit-event", args=[event.seq])).content.decode()
    for value in (event.request_id, event.client_ip, event.user_agent, event.prev_hash, event.hash, "INC-9"):
        assert value in html
    assert escape(json.dumps(event.data, indent=2, sort_keys=True)) in html
    assert "recomputes" in html
    assert f'href="/audit/event/{event.seq - 1}/"' in html
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_EVENT_VIEWED, target_id=str(event.seq)).exists()


def test_an_unknown_event_is_a_404(client, auditor):
    client.force_login(auditor)
    assert client.get(reverse("audit-event", args=[999999])).status_code == 404


def test_a_timeline_shows_every_event_about_one_target_in_order(client, auditor, trail):
    client.force_login(auditor)
    response = client.get(reverse("audit-timeline", args=["remediationrequest", "7"]))
    html = response.content.decode()
    shown = [int(n) for n in re.findall(r'<td class="num"><a href="/audit/event/(\d+)/">', html)]
    assert shown == [trail[5], trail[6], trail[7]]
    viewed = AuditEvent.objects.get(action=AuditAction.AUDIT_TIMELINE_VIEWED)
    assert viewed.data == {"target_type": "remediationrequest", "target_id": "7"}


def test_a_long_timeline_pages_forward_without_repeats(client, auditor):
    append_events(
        *({"action": "task.attempt", "target_type": "remediationrequest", "target_id": "9"} for _ in range(450))
    )
    client.force_login(auditor)
    url = reverse("audit-timeline", args=["remediationrequest", "9"])
    html = client.get(url).content.decode()
    shown = [int(n) for n in re.findall(r'href="/audit/event/(\d+)/"', html)]
    while match := re.search(r"after=(\d+)", html):
        html = client.get(url, {"after": match.group(1)}, headers={**HTMX, "HX-Target": "newer-row"}).content.decode()
        shown += [int(n) for n in re.findall(r'href="/audit/event/(\d+)/"', html)]
    assert len(shown) == 450 == len(set(shown))
    assert shown == sorted(shown)


# ---- exports ----


def _lines(chunks):
    """Physical lines out of a stream of byte chunks, without holding the stream."""
    rest = ""
    for chunk in chunks:
        rest += chunk.decode()
        *complete, rest = rest.split("\n")
        for line in complete:
            yield line + "\n"
    if rest:
        yield rest


def parse_export(response, fmt):
    """(header, iterator of event dicts) from a streaming export."""
    lines = _lines(response.streaming_content)
    if fmt == "jsonl":
        header = json.loads(next(lines))["export"]
        return header, (json.loads(line) for line in lines)
    reader = csv.reader(lines)
    marker, header = next(reader)
    assert marker == "# mimecast-portal audit export"
    columns = next(reader)

    def rows():
        for row in reader:
            doc = dict(zip(columns, row, strict=True))
            doc["seq"] = int(doc["seq"])
            doc["data"] = json.loads(doc["data"])
            yield doc

    return json.loads(header), rows()


def as_exported(event_values):
    doc = dict(event_values)
    doc["created_at"] = doc["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return doc


def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_of_100000_events_streams_in_constant_memory_and_parses_back(client, auditor, fmt):
    call_command("audit_seed", "100000", "--seed", "6", stdout=io.StringIO())
    client.force_login(auditor)
    before = rss_bytes()
    response = client.get(reverse("audit-export", args=[fmt]))
    assert response.streaming
    assert response["Content-Disposition"].startswith("attachment; filename=")
    header, events = parse_export(response, fmt)
    expected = (
        AuditEvent.objects.filter(seq__lte=header["head"]["seq"])
        .order_by("seq")
        .values(*CHAIN_FIELDS, "hash")
        .iterator(chunk_size=2000)
    )
    count = 0
    for got, want in zip(events, expected, strict=True):
        assert got == as_exported(want)
        count += 1
        if count == 10_000:
            warmed_up = rss_bytes()
    grown = rss_bytes() - before
    # After the first tenth (imports, caches, the first cursor chunks) memory must stay flat.
    grown_after_warm_up = rss_bytes() - warmed_up
    print(f"{fmt}: {count} events; grew {grown / 2**20:.1f} MB, {grown_after_warm_up / 2**20:.1f} MB after warm-up")
    assert grown_after_warm_up < 10 * 1024 * 1024
    assert count == 100_002  # the seeded events, the auditor's sign-in and the export's own event
    assert grown < 50 * 1024 * 1024, f"the test process grew by {grown / 2**20:.1f} MB"


def test_an_export_starts_with_its_filter_and_the_chain_head_and_is_audited_before_streaming(auditor_client, trail):
    response = auditor_client.get(reverse("audit-export", args=["jsonl"]), {"group": "authentication"})
    # Audited before a byte is sent.
    exported = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED, seq__gt=trail[10])
    assert exported.data == {"format": "jsonl", "filter": {"group": "authentication"}}
    header, events = parse_export(response, "jsonl")
    assert header["filter"] == {"group": "authentication"}
    assert header["head"] == {"seq": exported.seq, "hash": exported.hash}
    assert header["exported_by"] == "dave"
    assert [e["seq"] for e in events] == [trail[0], trail[1], trail[10]]
    assert response["Content-Type"].startswith("application/x-ndjson")


def test_an_export_of_a_bad_filter_shows_the_messages_instead(client, auditor):
    client.force_login(auditor)
    response = client.get(reverse("audit-export", args=["csv"]), {"since": "soon"})
    assert response.status_code == 400
    assert 'id="id_since-error"' in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).exists()


HOSTILE = {
    "crlf": "line one\r\nline two\rthree\nfour",
    "ansi": "\x1b[31mRED\x1b[0m \x1b]0;title\x07 bell",
    "script": '</script><script>alert("x")</script>',
    "quotes": 'she said "hi", then \'bye\'; a,b;""',
    "formula": '=HYPERLINK("http://evil.test","click")',
    "long": ("ten kB of reason 😀 " * 600)[:10_000],
}


@pytest.fixture
def hostile_events(db):
    return append_events(
        *(
            {
                "action": "message.viewed",
                "target_type": "message",
                "target_id": f"hostile-{name}",
                "reason": value,
                "data": {"note": value, "nested": {"list": [value, 1, None, True]}, name: value},
            }
            for name, value in HOSTILE.items()
        )
    )


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_reasons_and_payloads_are_shown_escaped(client, auditor, hostile_events, name):
    client.force_login(auditor)
    event = next(e for e in hostile_events if e.target_id == f"hostile-{name}")
    html = client.get(reverse("audit-event", args=[event.seq])).content.decode()
    assert escape(event.reason) in html
    assert '<script>alert("x")' not in html
    listing = client.get(reverse("audit-list"), {"target_type": "message", "target_id": event.target_id})
    assert '<script>alert("x")' not in listing.content.decode()
    assert "&lt;/script&gt;&lt;script&gt;" in client.get(reverse("audit-list")).content.decode()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_hostile_reasons_and_payloads_round_trip_exactly_through_the_export(client, auditor, hostile_events, fmt):
    client.force_login(auditor)
    response = client.get(reverse("audit-export", args=[fmt]), {"action": "message.viewed"})
    _, events = parse_export(response, fmt)
    got = {e["target_id"]: e for e in events}
    for event in hostile_events:
        assert got[event.target_id]["reason"] == event.reason
        assert got[event.target_id]["data"] == event.data
        assert got[event.target_id]["hash"] == event.hash
        # Everything the hash covers survives, so the file can be re-hashed offline.
        values = {name: got[event.target_id][name] for name in CHAIN_FIELDS}
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        assert event_hash(values) == event.hash


def test_the_writer_keeps_hostile_text_exactly_too(client, auditor):
    reason = HOSTILE["crlf"] + HOSTILE["ansi"] + HOSTILE["script"] + HOSTILE["quotes"]
    with_payload = {"blob": HOSTILE["long"], "why": reason}
    event = audit_record(actor=None, action="message.viewed", target=("message", "w"), reason=reason, data=with_payload)
    client.force_login(auditor)
    _, events = parse_export(client.get(reverse("audit-export", args=["csv"]), {"target_type": "message"}), "csv")
    (got,) = list(events)
    assert (got["reason"], got["data"]) == (event.reason, with_payload)


# ---- who may open what ----

PERSONAS = ("analyst", "approver", "auditor", "admin", "outsider", "anonymous")
READ = {"auditor": 200, "admin": 200}
AUDITOR_ONLY = {"auditor": 200}
ROUTES = {
    "list": ("get", lambda seq: reverse("audit-list"), READ),
    "list filtered": ("get", lambda seq: reverse("audit-list") + "?group=view", READ),
    "event detail": ("get", lambda seq: reverse("audit-event", args=[seq]), READ),
    "timeline": ("get", lambda seq: reverse("audit-timeline", args=["remediationrequest", "7"]), READ),
    "verification": ("get", lambda seq: reverse("audit-verification"), READ),
    "export csv": ("get", lambda seq: reverse("audit-export", args=["csv"]), AUDITOR_ONLY),
    "export jsonl": ("get", lambda seq: reverse("audit-export", args=["jsonl"]), AUDITOR_ONLY),
    "start verification": ("post", lambda seq: reverse("audit-verification-start"), {"auditor": 302}),
}
MATRIX = [(route, persona, htmx) for route in ROUTES for persona in PERSONAS for htmx in (False, True)]


@pytest.mark.parametrize(("route", "persona", "htmx"), MATRIX)
def test_only_auditors_and_admins_reach_the_audit_pages_and_only_auditors_export_or_verify(
    client, personas, trail, route, persona, htmx
):
    method, url, allowed = ROUTES[route]
    if persona == "anonymous":
        client.logout()
    else:
        client.force_login(personas[persona])
    response = getattr(client, method)(url(trail[5]), headers=HTMX if htmx else {})
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        return
    expected = allowed.get(persona, 403)
    if expected == 302 and htmx:
        expected = 200  # the htmx form gets the panel back instead of a redirect
    assert response.status_code == expected
    if hasattr(response, "close"):
        response.close()


def test_starting_a_verification_needs_a_post_with_a_csrf_token(auditor):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(auditor)
    assert strict.post(reverse("audit-verification-start")).status_code == 403
    assert strict.get(reverse("audit-verification-start")).status_code == 405
    assert not AuditVerificationRun.objects.exists()


def test_admins_read_the_verification_result_but_get_no_export_or_verify_buttons(client, auditor, admin_user, trail):
    client.force_login(admin_user)
    html = client.get(reverse("audit-list")).content.decode()
    assert "Verify the chain now" not in html
    assert "/audit/export.csv" not in html
    assert "Chain verification" in html
    client.force_login(auditor)
    html = client.get(reverse("audit-list")).content.decode()
    assert "Verify the chain now" in html
    assert "/audit/export.csv" in html


# ---- verification ----


def test_a_tampered_event_shows_as_a_failed_verification_naming_it(client, auditor, admin_user):
    append_events(*({"action": "message.viewed", "reason": f"INC-{n}"} for n in range(300)))
    as_owner_without_triggers("UPDATE investigations_auditevent SET reason = 'nothing to see' WHERE seq = 123")

    run, created = audit_verification_start(user=auditor)
    assert created and run.status == "queued" and run.total == 300
    # The Celery task's body, run here; the real worker runs it in test_verification_runs_in_a_real_worker.
    finished = audit_verification_execute(run_id=run.pk)
    assert finished.status == "failed"
    assert finished.problem_seq == 123

    for viewer in (auditor, admin_user):
        client.force_login(viewer)
        html = client.get(reverse("audit-list")).content.decode()
        assert "Failed" in html
        assert "First bad event: event seq=123" in html and "(edited)" in html
        assert 'href="/audit/event/123/"' in html
    detail = client.get(reverse("audit-event", args=[123])).content.decode()
    assert "does not match its content" in detail

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=io.StringIO(), stderr=err)
    assert "FIRST BAD EVENT: event seq=123" in err.getvalue()
    verified = AuditEvent.objects.get(action=AuditAction.AUDIT_VERIFIED)
    assert verified.outcome == "failure" and "seq=123" in verified.reason


def test_a_rewritten_chain_fails_against_the_signed_checkpoint(auditor):
    append_events(*({"action": "message.viewed"} for _ in range(50)))
    audit_checkpoint_write()
    as_owner_without_triggers("DELETE FROM investigations_auditevent WHERE seq > 40")
    run, _ = audit_verification_start(user=auditor)
    finished = audit_verification_execute(run_id=run.pk)
    assert finished.status == "failed"
    assert any("truncated tail" in problem for problem in finished.checkpoint_problems)


def test_a_second_start_joins_the_running_verification_and_a_redelivered_task_does_nothing(auditor):
    append_events({"action": "auth.login"})
    audit_checkpoint_write()
    first, created = audit_verification_start(user=auditor)
    again, created_again = audit_verification_start(user=auditor)
    assert created and not created_again and again.pk == first.pk
    assert audit_verification_execute(run_id=first.pk).status == "passed"
    assert audit_verification_execute(run_id=first.pk) is None
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_VERIFIED).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_VERIFICATION_STARTED).count() == 1


def test_the_verification_panel_polls_while_running_and_stops_when_done(client, auditor):
    append_events({"action": "auth.login"})
    audit_checkpoint_write()
    client.force_login(auditor)
    client.post(reverse("audit-verification-start"), headers=HTMX)
    panel = client.get(reverse("audit-verification"), headers=HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in panel and "<progress" in panel
    run = AuditVerificationRun.objects.get()
    audit_verification_execute(run_id=run.pk)
    panel = client.get(reverse("audit-verification"), headers=HTMX).content.decode()
    assert "every 1s" not in panel
    assert "Passed" in panel


def wait_until_done(run_id, timeout=60):
    return poll_until(lambda: AuditVerificationRun.objects.get(pk=run_id), lambda run: run.done, timeout=timeout)


def test_verification_runs_in_a_real_worker_with_progress_and_passes(worker, client):
    auditor = UserFactory(username="dave", roles=["auditor"])
    call_command("audit_seed", "12000", "--seed", "1", stdout=io.StringIO())
    client.force_login(auditor)
    response = client.post(reverse("audit-verification-start"))
    assert response.status_code == 302
    run = wait_until_done(AuditVerificationRun.objects.get().pk)
    assert run.status == "passed", run.problem
    # The seeded events, the auditor's sign-in, and the start of this verification.
    assert run.checked == run.head_seq == 12_002 == run.total
    assert run.heartbeat_at is not None and run.started_by == auditor
    verified = AuditEvent.objects.get(action=AuditAction.AUDIT_VERIFIED)
    assert (
        verified.outcome == "success" and verified.actor_label == "task:investigations.tasks.audit_verification_execute"
    )
    html = client.get(reverse("audit-verification")).content.decode()
    assert "Passed" in html and "12002 events up to seq 12002" in html


# ---- demo and benchmark data ----


@pytest.mark.slow  # fifty thousand events written and verified
def test_audit_seed_appends_realistic_events_in_every_group_with_a_valid_chain(db):
    audit_record(actor=None, action="auth.login", target=None)
    out = io.StringIO()
    call_command("audit_seed", "50000", "--seed", "3", stdout=out)
    audit_record(actor=None, action="auth.logout", target=None)
    assert AuditEvent.objects.count() == 50_002
    result = audit_verify()
    assert result.ok and result.checked == 50_002
    groups = {audit_action_group(a) for a in AuditEvent.objects.values_list("action", flat=True).distinct()}
    assert set(AUDIT_ACTION_GROUPS) - {"verification", "system"} <= groups
    assert AuditEvent.objects.filter(target_type="remediationrequest").exists()
    assert AuditEvent.objects.filter(target_type="message").exclude(reason="").exists()
    # How fast it goes is the benchmark's business (make bench), not this test's.
    assert re.search(r"appended 50000 events in [\d.]+s \([\d,]+/s\)", out.getvalue())


def test_every_defined_action_falls_into_exactly_one_filter_group():
    def matches(action, pattern):
        if pattern.startswith("*"):
            return action.endswith(pattern[1:])
        if pattern.endswith("*"):
            return action.startswith(pattern[:-1])
        return action == pattern

    for action in AuditAction.values:
        groups = [g for g, patterns in AUDIT_ACTION_GROUPS.items() if any(matches(action, p) for p in patterns)]
        assert len(groups) == 1, f"{action} is in {groups or 'no group'}"
        assert audit_action_group(action) == groups[0]


def test_the_actor_filter_takes_an_actor_as_the_list_names_it(auditor_client):
    poller = "task:investigations.tasks.remediation_poll"
    append_events(
        {"actor_label": poller, "action": "remediation.polled"},
        {"actor_label": "task:investigations.tasks.remediation_execute", "action": "task.attempt"},
        {"actor_type": "user", "actor_id": "99", "actor_label": "integration:soar", "action": "api.called"},
    )

    for typed, recorded in (
        ("System: remediation poller", poller),
        ("system: Remediation Poller", poller),
        (poller, poller),
        ("Integration: soar", "integration:soar"),
    ):
        response = auditor_client.get(reverse("audit-list"), {"actor": typed})
        assert response.status_code == 200
        shown = AuditEvent.objects.filter(seq__in=seqs_in(response))
        assert shown.exists() and set(shown.values_list("actor_label", flat=True)) == {recorded}


def test_the_action_filter_is_a_select_in_words_that_keeps_an_older_action(auditor_client):
    append_events({"action": "legacy.renamed"})

    html = auditor_client.get(reverse("audit-list"), {"action": "remediation.drafted"}).content.decode()
    assert '<select name="action"' in html
    assert '<option value="remediation.drafted" selected>Remediation request drafted</option>' in html

    # An action only older events carry is kept as the selected option, so the filter does not lose it.
    html = auditor_client.get(reverse("audit-list"), {"action": "legacy.renamed"}).content.decode()
    assert '<optgroup label="Other"><option value="legacy.renamed" selected>legacy.renamed</option>' in html
    assert seqs_in(auditor_client.get(reverse("audit-list"), {"action": "legacy.renamed"}))


def test_an_event_reads_in_words_with_its_codes_beside_them(auditor_client):
    failed, quiet = append_events(
        {
            "actor_label": "task:investigations.tasks.remediation_poll",
            "action": "remediation.polled",
            "outcome": "failure",
            "data": {"code": "err_xdk_binding_expired"},
        },
        {"actor_label": "web", "action": "legacy.renamed"},
    )

    html = auditor_client.get(reverse("audit-event", args=[failed.seq])).content.decode()
    assert f"<h1>Audit event {failed.seq}: Mimecast incident counts read</h1>" in html
    assert "System: remediation poller" in html and "<code>task:investigations.tasks.remediation_poll</code>" in html
    assert "Mimecast incident counts read <code>remediation.polled</code>" in html
    assert '<span class="badge badge-failure">Failure</span>' in html
    assert "The Mimecast access key has expired" in html and "<code>err_xdk_binding_expired</code>" in html

    html = auditor_client.get(reverse("audit-event", args=[quiet.seq])).content.decode()
    assert f"<h1>Audit event {quiet.seq}: legacy.renamed</h1>" in html
    assert "System: web request" in html and "Mimecast&#x27;s answer" not in html
