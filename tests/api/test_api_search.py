"""The API's searches and tools against the simulator's seeded stories: each answers what its page
shows for the same input, refuses what the page's form refuses (a 422 per field, nothing sent to
Mimecast), audits the search under the token's service identity, and turns a Mimecast failure into a
problem document."""

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from investigations.models import AuditAction, AuditEvent
from mimecast_simulator.data import Attachment
from tests.browser.xss_vectors import xss_vectors
from tests.workspace.message_page import load_message_page

REASON = "SOAR playbook: user reported phishing, INC-4242"
FINDER = "/api/message-finder/search"
ISO_WITH_ZONE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture
def secret(reader):
    return reader[1]


@pytest.fixture
def story(sim):
    return sim.state.story


def _track_params(story, **extra):
    return {"sender": f"no-reply@{story['phishing_domain']}", "window": "7d", "reason": REASON, **extra}


def _page(client, user, name, params):
    client.force_login(user)
    return client.get(reverse(name) + "?" + urlencode(params, doseq=True))


def _errors(response):
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("invalid-input") and body["status"] == 422
    return {e["field"]: e["message"] for e in body["errors"]}


# ------------------------------------------------------------------------------ track & trace


def test_track_and_trace_answers_what_the_page_shows(api, secret, story, client, analyst):
    response = api.get("messages", token=secret, **_track_params(story))
    assert response.status_code == 200, response.content
    body = response.json()
    page = _page(client, analyst, "track-trace", _track_params(story))
    assert [m["id"] for m in body["items"]] == [r.id for r in page.context["rows"]]
    assert len(body["items"]) == 45
    first, row = body["items"][0], page.context["rows"][0]
    assert first["subject"] == row.subject == "Action required: your mailbox password expires today"
    assert first["sender"] == row.from_hdr.email_address
    assert first["recipients"] == [t.email_address for t in row.to]
    assert first["route"] == row.route and first["status"] == row.status
    assert ISO_WITH_ZONE.match(first["received"]) and ISO_WITH_ZONE.match(body["start"])


def test_a_search_is_audited_under_the_tokens_service_identity(api, reader, story, service_user_of):
    token, secret = reader
    api.get("messages", token=secret, **_track_params(story, ticket="INC-4242"))
    event = AuditEvent.objects.get(action=AuditAction.SEARCH_TRACK_TRACE)
    service = service_user_of(token)
    assert (event.actor_type, event.actor_id, event.actor_label) == ("user", str(service.pk), service.username)
    assert event.reason == f"{REASON} [ticket INC-4242]"
    assert event.data["results"] == 45
    assert event.data["criteria"]["sender"] == f"no-reply@{story['phishing_domain']}"


def test_the_reason_goes_to_mimecast_and_sort_is_honoured(api, secret, story, sim):
    ascending = api.get("messages", token=secret, **_track_params(story, sort="to", dir="asc")).json()["items"]
    descending = api.get("messages", token=secret, **_track_params(story, sort="to", dir="desc")).json()["items"]
    assert [m["recipients"][0] for m in ascending] == sorted(m["recipients"][0] for m in ascending)
    assert ascending[0]["id"] != descending[0]["id"]
    assert sim.calls_to(FINDER)[-1].json["data"][0]["searchReason"] == REASON


def test_track_and_trace_takes_several_routes(api, secret, story):
    params = {"route": ["inbound", "internal"], "window": "24h", "reason": REASON}
    response = api.get("messages", token=secret, **params)
    assert response.status_code == 200, response.content
    assert {m["route"] for m in response.json()["items"]} <= {"inbound", "internal"}


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"sender": "evil\u202e.com"}, "sender", "control"),
        ({"sender": "not an address"}, "sender", ""),
        ({"recipient": "a@b"}, "recipient", ""),
        ({"message_id": "no id at all"}, "message_id", ""),
        ({"sender_ip": "999.1.1.1"}, "sender_ip", ""),
        ({"subject": "x\x00y"}, "subject", "control"),
        ({"route": ["sideways"]}, "route", "sideways"),
        ({"window": "custom", "start": "0001-01-01"}, "start", "2000"),
        ({"window": "custom", "start": "2150-01-01"}, "start", "2100"),
        ({"window": "custom", "start": "yesterday-ish"}, "start", ""),
        ({"window": "forever"}, "window", ""),
        ({"reason": "short"}, "reason", "at least 10"),
        ({"reason": "fine reason\u200b here"}, "reason", "control"),
        ({"ticket": "INC 42; drop"}, "ticket", ""),
        ({"sort": "bogus"}, "sort", ""),
        ({"message_id": "<a@b.example>"}, None, "not both"),
    ],
)
def test_bad_track_and_trace_input_is_a_422_per_field_and_nothing_is_sent(
    api, secret, story, sim, params, field, words
):
    response = api.get("messages", token=secret, **{**_track_params(story), **params})
    errors = _errors(response)
    assert field in errors, errors
    assert words in errors[field]
    assert sim.calls_to(FINDER) == []
    assert not AuditEvent.objects.filter(action=AuditAction.SEARCH_TRACK_TRACE).exists()


def test_no_criteria_at_all_is_a_422_for_the_request_as_a_whole(api, secret, sim):
    errors = _errors(api.get("messages", token=secret, reason=REASON))
    assert "Give a Message-ID" in errors[None]


def test_a_missing_reason_is_refused_before_anything_is_searched(api, secret, story, sim):
    params = _track_params(story)
    del params["reason"]
    errors = _errors(api.get("messages", token=secret, **params))
    assert any(f and f.endswith("reason") for f in errors)
    assert sim.calls_to(FINDER) == []


# ------------------------------------------------------------------------------------ archive


def test_archive_search_answers_the_page_and_pages_with_its_token(api, reader, sim, client, analyst, service_user_of):
    token, secret = reader
    params = {"text": "invoice", "period": "last_month", "scope": "admin", "reason": REASON}
    first = api.get("archive", token=secret, **params)
    assert first.status_code == 200, first.content
    body = first.json()
    page = _page(client, analyst, "archive-search", params)
    assert [m["id"] for m in body["items"]] == [r.id for r in page.context["rows"]]
    assert len(body["items"]) == 25
    assert body["items"][0]["sender"] == page.context["rows"][0].display_from_address
    assert body["next_page_token"]
    second = api.get("archive", token=secret, **params, page_token=body["next_page_token"]).json()
    assert {m["id"] for m in second["items"]}.isdisjoint({m["id"] for m in body["items"]})
    events = AuditEvent.objects.filter(action=AuditAction.SEARCH_ARCHIVE, actor_id=str(service_user_of(token).pk))
    assert [e.data["page"] for e in events.order_by("seq")] == [False, True]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from_address": "nobody@@example.com"}, "from_address"),
        ({"mailbox": "example.com"}, "mailbox"),
        ({"period": "last_century"}, "period"),
        ({"scope": "everyone"}, "scope"),
        ({"page_token": "not a token!"}, "page_token"),
        ({"text": "x" * 501}, "text"),
        ({"text": "", "reason": REASON}, None),
    ],
)
def test_bad_archive_input_is_a_422_per_field(api, secret, sim, params, field):
    errors = _errors(api.get("archive", token=secret, **{"text": "invoice", "reason": REASON, **params}))
    assert field in errors, errors
    assert sim.calls_to("/api/archive/search") == []


# ----------------------------------------------------------------------------- message detail


def test_message_detail_answers_what_the_message_page_shows(api, secret, story, client, analyst):
    message_id = story["macro_message_ids"][0]
    response = api.get(f"messages/{message_id}", token=secret, reason=REASON)
    assert response.status_code == 200, response.content
    body = response.json()
    client.force_login(analyst)
    page = load_message_page(client, message_id).context
    shown = page["detail"]
    assert body["id"] == message_id
    assert body["subject"] == shown.subject and body["sender"] == shown.sender
    assert body["message_id"] == shown.mime_id and body["route"] == shown.route
    assert body["recipients"] == shown.recipients
    assert [(h["name"], h["value"]) for h in body["headers"]] == [(h.name, h.value) for h in shown.headers]
    assert [(a["name"], a["sha256"]) for a in body["attachments"]] == [(a.name, a.sha256) for a in shown.attachments]
    assert (story["macro_filename"], story["macro_sha256"]) in [(a["name"], a["sha256"]) for a in body["attachments"]]
    assert [(a["method"], a["result"]) for a in body["authentication"]] == [(a.method, a.result) for a in page["auth"]]
    info = page["info"]
    assert [d["recipient"] for d in body["delivery"]] == ["", *info.delivered]
    policies = [[(p.policy_type, p.policy_name) for p in d.policies] for d in info.delivered.values()]
    assert [[(p["type"], p["name"]) for p in d["policies"]] for d in body["delivery"][1:]] == policies
    assert body["problems"] == []


def test_message_detail_is_audited_with_the_reason_under_the_service_identity(api, reader, story, service_user_of):
    token, secret = reader
    message_id = story["phishing_message_ids"][0]
    api.get(f"messages/{message_id}", token=secret, reason=REASON)
    event = AuditEvent.objects.get(action=AuditAction.MESSAGE_VIEWED, target_id=message_id)
    assert event.reason == REASON
    assert event.actor_id == str(service_user_of(token).pk)


def test_message_detail_requires_a_reason(api, secret, story, sim):
    response = api.get(f"messages/{story['phishing_message_ids'][0]}", token=secret, reason="why")
    assert "reason" in _errors(response)
    assert not AuditEvent.objects.filter(action=AuditAction.MESSAGE_VIEWED).exists()
    assert sim.calls_to("/api/message-finder/get-message-info") == []


def test_an_unknown_message_is_a_404_problem(api, secret, sim):
    response = api.get("messages/eNpNoSuchMessage0000000000000000", token=secret, reason=REASON)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_a_malformed_message_id_is_a_404_and_mimecast_is_not_asked(api, secret, sim):
    response = api.get("messages/%3Cscript%3E", token=secret, reason=REASON)
    assert response.status_code == 404
    assert sim.calls_to("/api/message-finder/get-message-info") == []


def test_one_failing_part_is_named_and_the_rest_answers(api, secret, story, sim):
    sim.faults.add(path="/api/archive/get-message-detail", kind="status", status=403, count=None)
    body = api.get(f"messages/{story['phishing_message_ids'][0]}", token=secret, reason=REASON).json()
    assert body["subject"] == "Action required: your mailbox password expires today"
    assert [p["section"] for p in body["problems"]] == ["archive"]
    assert "Archive | Search | Read" in body["problems"][0]["detail"]


# ------------------------------------------------------------------------- Mimecast failures


def test_a_rate_limited_search_is_a_429_with_retry_after(api, secret, story, sim, settings):
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_MAX_RETRIES": "0"}
    sim.faults.add(path=FINDER, kind="rate_limit", reset_ms=7000, count=None)
    response = api.get("messages", token=secret, **_track_params(story))
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    body = response.json()
    assert body["retry_after"] == 7 and body["type"].endswith("mimecast-rate-limited")
    assert AuditEvent.objects.get(action=AuditAction.SEARCH_TRACK_TRACE).outcome == "failure"


@pytest.mark.parametrize(
    "fault",
    [{"kind": "status", "status": 503}, {"kind": "status", "status": 403}, {"kind": "truncate"}],
)
def test_any_other_mimecast_failure_is_a_502_problem(api, secret, sim, fault):
    sim.faults.add(path="/api/archive/search", count=None, **fault)
    response = api.get("archive", token=secret, text="invoice", reason=REASON)
    assert response.status_code == 502
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("mimecast-unavailable") and body["detail"]


def test_a_message_mimecast_cannot_reach_is_a_502_not_a_404(api, secret, story, sim):
    sim.faults.add(path="/api/", kind="status", status=503, count=None)
    response = api.get(f"messages/{story['phishing_message_ids'][0]}", token=secret, reason=REASON)
    assert response.status_code == 502


# ---------------------------------------------------------------------------------- the tools

HASH_PATH = "/api/ttp/remediation/search-hash"


def test_hash_search_answers_what_the_page_shows(api, reader, story, client, analyst, service_user_of):
    token, secret = reader
    macro, unseen = story["macro_sha256"], "ab" * 32
    response = api.post("hash-search", {"hashes": [macro, unseen, "not-a-hash"], "reason": REASON}, token=secret)
    assert response.status_code == 200, response.content
    body = response.json()
    client.force_login(analyst)
    page = client.post(reverse("tools-hash-search"), {"hashes": f"{macro}\n{unseen}\nnot-a-hash"}).context["search"]
    got = [(r["hash"], r["status"], r["mailboxes"]) for r in body["items"]]
    assert got == [(r.hash, r.status, r.mailboxes) for r in page.rows]
    assert (body["detected"], body["not_detected"], body["invalid"]) == (1, 1, 1)
    event = AuditEvent.objects.filter(action=AuditAction.SEARCH_HASH).order_by("seq").first()
    assert event.actor_id == str(service_user_of(token).pk) and event.reason == REASON


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"hashes": ["xyz", "1234"]}, "hashes", "None of these is an MD5"),
        ({"hashes": [f"{n:064x}" for n in range(1001)]}, "hashes", "At most 1,000 hashes"),
        ({"hashes": ["abc\x1bdef"]}, "hashes", "control characters"),
        ({"hashes": []}, "hashes", "required"),
        ({"reason": "short"}, "reason", "at least 10"),
    ],
)
def test_bad_hash_search_input_is_a_422_and_nothing_is_sent(api, secret, sim, body, field, words):
    sent = {"hashes": ["ab" * 32], "reason": REASON, **body}
    errors = _errors(api.post("hash-search", sent, token=secret))
    assert words in errors[field]
    assert sim.calls_to(HASH_PATH) == []


def test_a_hash_search_mimecast_refuses_is_a_502(api, secret, sim):
    sim.faults.add(path=HASH_PATH, kind="status", status=503, count=None)
    response = api.post("hash-search", {"hashes": ["ab" * 32], "reason": REASON}, token=secret)
    assert response.status_code == 502
    assert "internal problem" in response.json()["detail"]


def test_url_decode_answers_what_the_page_shows(api, secret, story, sim, client, analyst):
    message = sim.state.message_by_id[story["phishing_message_ids"][0]]
    rewritten = message.urls[0][1]
    urls = [rewritten, "https://example.org/plain", "javascript:alert(1)"]
    response = api.post("url-decode", {"urls": urls}, token=secret)
    assert response.status_code == 200, response.content
    body = response.json()
    client.force_login(analyst)
    page = client.post(reverse("tools-url-decode"), {"urls": "\n".join(urls)}).context["rows"]
    assert [(r["url"], r["decoded"]) for r in body["items"]] == [(r.url, r.decoded) for r in page]
    rows = {r["url"]: r for r in body["items"]}
    assert rows[rewritten]["decoded"] == story["phishing_url"]
    assert rows["https://example.org/plain"]["error"] and rows["javascript:alert(1)"]["error"]
    assert body["decoded"] == 1


@pytest.mark.parametrize("urls", [[], ["not a url"], ["\x00http://a.b/"], [f"https://a.b/{n}" for n in range(101)]])
def test_bad_url_decode_input_is_a_422(api, secret, sim, urls):
    assert "urls" in _errors(api.post("url-decode", {"urls": urls}, token=secret))


# ----------------------------------------------------------------------------- scope and XSS


def test_a_token_without_the_read_scope_cannot_search(api, make_token, story, sim):
    _, secret = make_token(["audit_read"])
    assert api.get("messages", token=secret, **_track_params(story)).status_code == 403
    assert api.post("hash-search", {"hashes": ["ab" * 32], "reason": REASON}, token=secret).status_code == 403
    assert sim.calls_to(FINDER) == []


@pytest.fixture
def planted(sim):
    """The XSS corpus in the phishing campaign's subjects, display names, attachment names and
    Reply-To headers."""
    state = sim.state
    vectors = xss_vectors()
    messages = [state.message_by_id[i] for i in state.story["phishing_message_ids"]]
    for k, message in enumerate(messages):
        v = [vectors[(k * 4 + j) % len(vectors)] for j in range(4)]
        message.subject, message.from_name, message.reply_to = v[0], v[1], v[2]
        key = f"xss{k}"
        state.attachments[key] = Attachment(key, v[3], "txt", "text/plain", f"xss {k}".encode(), "", "text")
        message.attachments = [key]
    yield messages
    sim.reset()


def test_html_from_email_comes_back_as_inert_json_strings(api, secret, story, sim, planted):
    response = api.get("messages", token=secret, **_track_params(story))
    # JSON, never sniffed as HTML: the markup below is data, escaped by whoever shows it.
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert {m["id"]: m["subject"] for m in response.json()["items"]} == {m.id: m.subject for m in planted}
    message = planted[0]
    body = api.get(f"messages/{message.id}", token=secret, reason=REASON).json()
    assert body["subject"] == message.subject == "<script>alert(1)</script>"
    assert message.reply_to in [h["value"] for h in body["headers"] if h["name"].lower() == "reply-to"]
    assert [a["name"] for a in body["attachments"]] == [sim.state.attachments[message.attachments[0]].filename]
