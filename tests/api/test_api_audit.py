"""The audit trail through the API: the audit page's filter, keyset pages by seq both ways, one event
with its place in the chain, and the same refusals as the page's form."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from investigations.audit.selectors import audit_events_page
from investigations.audit.services import audit_record
from investigations.models import AuditAction, AuditEvent, audit_action_group


@pytest.fixture
def secret(auditor_token):
    """What the SIEM presents as its bearer token."""
    return auditor_token[1]


@pytest.fixture
def trail(analyst, approver):
    """Thirty events by two people, a few failures, the reasons telling them apart."""
    for n in range(30):
        audit_record(
            actor=analyst if n % 2 else approver,
            action=AuditAction.SEARCH_TRACK_TRACE if n % 3 else AuditAction.MESSAGE_VIEWED,
            target=("message", f"eN-message-{n}"),
            outcome="failure" if n % 5 == 0 else "success",
            reason=f"case {n}: <b>checked</b>",
            data={"n": n},
        )
    return list(AuditEvent.objects.order_by("seq"))


def _events(api, secret, **params):
    response = api.get("audit/events", token=secret, **params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_newest_events_come_first_as_the_audit_page_lists_them(api, secret, trail):
    expected = audit_events_page(criteria={}, limit=10).events  # before the call adds its own events
    body = _events(api, secret, limit=10)
    assert [e["seq"] for e in body["items"]] == [e.seq for e in expected]
    first, event = body["items"][0], expected[0]
    assert first["action"] == event.action and first["reason"] == event.reason
    assert first["actor"] == {"type": event.actor_type, "id": event.actor_id, "label": event.actor_label}
    assert first["target"] == {"type": event.target_type, "id": event.target_id}
    assert (first["hash"], first["prev_hash"], first["data"]) == (event.hash, event.prev_hash, event.data)
    created = datetime.fromisoformat(first["created_at"])  # ISO 8601 with its zone, to the millisecond
    assert created.tzinfo is not None and abs(created - event.created_at) < timedelta(milliseconds=1)


def test_paging_back_with_before_visits_every_event_once(api, secret, trail):
    seen, cursor = [], None
    while True:
        params = {"limit": 7, "action": AuditAction.SEARCH_TRACK_TRACE}
        body = _events(api, secret, **params, **({"before": cursor} if cursor else {}))
        seen += [e["seq"] for e in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    expected = [e.seq for e in trail if e.action == AuditAction.SEARCH_TRACK_TRACE]
    assert seen == sorted(expected, reverse=True)


def test_following_the_trail_with_after_gives_the_oldest_first_and_then_what_is_new(api, secret, trail, analyst):
    start = trail[9].seq
    body = _events(api, secret, after=start, limit=200)
    seqs = [e["seq"] for e in body["items"]]
    assert seqs[:20] == [e.seq for e in trail[10:30]] and seqs == sorted(seqs)
    last = seqs[-1]
    audit_record(actor=analyst, action=AuditAction.MESSAGE_VIEWED, target=("message", "eN-new"))
    new = _events(api, secret, after=last, action=AuditAction.MESSAGE_VIEWED)["items"]
    assert [e["target"]["id"] for e in new] == ["eN-new"]


def test_after_pages_carry_a_cursor_for_the_next_page(api, secret, trail):
    first = _events(api, secret, after=0, limit=5, action=AuditAction.MESSAGE_VIEWED)
    second = _events(api, secret, after=first["next"], limit=5, action=AuditAction.MESSAGE_VIEWED)
    both = [e["seq"] for e in first["items"] + second["items"]]
    assert both == sorted(both) and len(set(both)) == 10


def test_the_filters_are_the_audit_pages(api, secret, trail, analyst):
    by_analyst = _events(api, secret, actor=analyst.username, limit=200)["items"]
    assert {e["actor"]["label"] for e in by_analyst} == {analyst.username} and len(by_analyst) == 15
    failures = _events(api, secret, outcome="failure", limit=200)["items"]
    assert {e["data"]["n"] for e in failures} == {0, 5, 10, 15, 20, 25}
    target = _events(api, secret, target_type="message", target_id="eN-message-7")["items"]
    assert [e["data"]["n"] for e in target] == [7]
    assert [e["data"]["n"] for e in _events(api, secret, reason="case 12:")["items"]] == [12]
    group = _events(api, secret, group="search", limit=200)["items"]
    assert group and all(e["action"].startswith("search.") for e in group)
    since = trail[20].created_at
    recent = {e["seq"] for e in _events(api, secret, since=since.isoformat(), limit=200)["items"]}
    assert {e.seq for e in trail[20:]} <= recent
    assert not AuditEvent.objects.filter(seq__in=recent, created_at__lt=since).exists()
    assert _events(api, secret, until="2001-01-01")["items"] == []
    assert _events(api, secret, since=(timezone.now() + timedelta(days=1)).isoformat())["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "no.such_action"}, "action"),
        ({"action": "DROP TABLE"}, "action"),
        ({"since": "0001-01-01"}, "since"),
        ({"until": "2150-01-01"}, "until"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
        ({"target_id": "eN-1"}, "target_type"),
        ({"outcome": "maybe"}, "outcome"),
        ({"group": "everything"}, "group"),
        ({"reason": "bidi\u202eevil"}, "reason"),
        ({"actor": "x" * 151}, "actor"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"before": 0}, "before"),
        ({"before": 2**63}, "before"),
        ({"before": 5, "after": 2}, "after"),
    ],
)
def test_bad_filters_are_a_422_per_field(api, secret, params, field):
    response = api.get("audit/events", token=secret, **params)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f and f.split(".")[-1] == field for f in fields), fields


def test_one_event_with_its_neighbours_and_its_hash_checked(api, secret, trail):
    event = trail[10]
    response = api.get(f"audit/events/{event.seq}", token=secret)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["seq"] == event.seq and body["hash"] == event.hash
    assert body["prev_hash"] == trail[9].hash  # the chain
    assert body["hash_matches"] is True
    assert (body["previous_seq"], body["next_seq"]) == (trail[9].seq, trail[11].seq)
    assert body["group"] == audit_action_group(event.action)


@pytest.mark.parametrize(("seq", "status"), [(999_999_999, 404), (0, 422), (2**63, 422), ("abc", 422)])
def test_an_event_that_cannot_exist_is_a_problem_not_a_500(api, secret, seq, status):
    response = api.get(f"audit/events/{seq}", token=secret)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"


def test_reading_the_trail_is_audited_once_per_search_under_the_service_identity(
    api, auditor_token, trail, service_user_of
):
    token, secret = auditor_token
    first = _events(api, secret, limit=5, outcome="failure")
    _events(api, secret, limit=5, before=first["next"])
    api.get(f"audit/events/{trail[3].seq}", token=secret)
    service = str(service_user_of(token).pk)
    viewed = AuditEvent.objects.filter(action=AuditAction.AUDIT_VIEWED, actor_id=service)
    assert [e.data["filter"] for e in viewed] == [{"outcome": "failure"}]
    opened = AuditEvent.objects.get(action=AuditAction.AUDIT_EVENT_VIEWED, actor_id=service)
    assert opened.target_id == str(trail[3].seq)


def test_a_read_token_cannot_read_the_trail(api, make_token, trail):
    _, secret = make_token(["read", "request_actions"])
    assert api.get("audit/events", token=secret).status_code == 403
    assert api.get(f"audit/events/{trail[0].seq}", token=secret).status_code == 403
