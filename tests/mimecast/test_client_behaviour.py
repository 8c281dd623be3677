"""Client behaviour against the Mimecast simulator over loopback HTTP: retries, error mapping, paging,
parsing, authentication flows. Odd answers come from the simulator's fault kinds (redirect, raw,
repeat_token, empty_page, ...); the only thing injected into the client is a recorder for the backoff
sleeps (so the requested waits can be checked without sitting through them) and, in one test, a clock."""

import base64
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests

from investigations.mimecast import (
    MimecastApiError,
    MimecastAuthError,
    MimecastBadResponse,
    MimecastClient,
    MimecastConfig,
    MimecastConfigError,
    MimecastInvalidRequest,
    MimecastRateLimited,
    MimecastServerError,
    MimecastTimeout,
)
from investigations.mimecast.urls import DISCOVERY_BASE_URL
from tests.mimecast.client_sim import call_value, calls_to, creds, serve_download, sim_config, start_simulator

DECODE = "/api/ttp/url/decode-url"
CREATE = "/api/ttp/remediation/create"
SEARCH_HASH = "/api/ttp/remediation/search-hash"
FIND_GROUPS = "/api/directory/find-groups"
GROUP_MEMBERS = "/api/directory/get-group-members"
MANAGED_URLS = "/api/ttp/url/get-all-managed-urls"
MESSAGE_PART = "/api/archive/get-message-part"
DISCOVER = "/api/login/discover-authentication"
LOGIN = "/api/login/login"
TOKEN = "/oauth/token"
SIEM_BATCH = "/siem/v1/batch/events/cg"
SIEM_FILES = "/siem/v1/batch/files/"


@pytest.fixture(scope="module")
def other():
    """A second simulator on another port: a redirect target, or the "global" discovery host."""
    server = start_simulator()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean(srv, other):
    for server in (srv, other):
        server.faults.clear()
        server.configure(token_lifetime_s=1799, discovery_region_api=None)
    yield
    for server in (srv, other):
        server.faults.clear()
        server.configure(token_lifetime_s=1799, discovery_region_api=None)


class Sleeps(list):
    """Records the backoff waits the client asks for instead of sleeping through them."""

    def __call__(self, seconds):
        self.append(seconds)


def _client(srv, mode="keys", **overrides):
    sleeps = Sleeps()
    return MimecastClient(sim_config(srv, mode, **overrides), sleep=sleeps), sleeps


def _protected_url(srv):
    """A URL Protect link the simulator knows, and the original URL it decodes to."""
    return next(
        (rewritten, original) for m in srv.state.messages for original, rewritten in m.urls if rewritten != original
    )


def _statuses(srv, path, before):
    return [call_value(c, "status") for c in calls_to(srv, path)[before:]]


def _delivered_message(srv, index):
    candidates = [
        m for m in srv.state.messages if m.route == "inbound" and m.status not in ("held", "rejected", "remediated")
    ]
    return candidates[index]


def _wait_until_answered(srv, path, timeout=5.0):
    """A hung call is recorded when it arrives and gets its status when the simulator answers it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(call_value(c, "status") for c in calls_to(srv, path)):
            return
        time.sleep(0.05)
    raise AssertionError(f"the simulator never answered the hung call to {path}")


# ------------------------------------------------------------------------- retries and backoff


@dataclass
class Decoding:
    """A client (its backoff waits recorded) about to decode a protected URL while a fault is armed."""

    srv: Any
    client: MimecastClient
    sleeps: Sleeps
    url: str
    original: str
    before: int  # decode calls the simulator had seen before

    def statuses(self):
        return _statuses(self.srv, DECODE, self.before)


def _decoding(srv, fault, **overrides):
    url, original = _protected_url(srv)
    client, sleeps = _client(srv, **overrides)
    decoding = Decoding(srv, client, sleeps, url, original, len(calls_to(srv, DECODE)))
    srv.faults.add(path=DECODE, **fault)
    return decoding


def test_three_503s_then_success_returns_the_result_after_backing_off(srv):
    d = _decoding(srv, {"kind": "status", "status": 503, "count": 3})
    assert d.client.decode_url(d.url).url == d.original
    assert d.statuses() == [503, 503, 503, 200]
    assert len(d.sleeps) == 3
    assert all(s > 0 for s in d.sleeps)


def test_persistent_5xx_gives_a_server_error_after_the_retry_bound(srv):
    d = _decoding(srv, {"kind": "status", "status": 502, "count": 10}, max_retries=2)
    with pytest.raises(MimecastServerError) as excinfo:
        d.client.decode_url(d.url)
    assert excinfo.value.status == 502
    assert excinfo.value.retryable is True
    assert d.statuses() == [502, 502, 502]
    assert len(d.sleeps) == 2


def test_429_waits_at_least_the_reset_header(srv):
    d = _decoding(srv, {"kind": "rate_limit", "reset_ms": 2500, "count": 1})
    assert d.client.decode_url(d.url).url == d.original
    assert d.statuses() == [429, 200]
    assert len(d.sleeps) == 1
    assert d.sleeps[0] >= 2.5


def test_429_asking_for_a_very_long_wait_gives_up_with_rate_limited(srv):
    d = _decoding(srv, {"kind": "rate_limit", "reset_ms": 3_600_000, "count": 5})
    with pytest.raises(MimecastRateLimited) as excinfo:
        d.client.decode_url(d.url)
    assert excinfo.value.retry_after == 3600
    assert excinfo.value.status == 429
    assert d.sleeps == []
    assert d.statuses() == [429]


@pytest.mark.slow  # waits for real read timeouts
def test_a_read_timeout_is_retried_then_reported(srv):
    d = _decoding(srv, {"kind": "hang", "seconds": 1.0, "count": 3}, read_timeout=0.3, max_retries=2)
    with pytest.raises(MimecastTimeout) as excinfo:
        d.client.decode_url(d.url)
    assert excinfo.value.retryable is True
    assert len(calls_to(srv, DECODE)) - d.before == 3
    assert len(d.sleeps) == 2
    _wait_until_answered(srv, DECODE)


# -------------------------------------------------------------------------------- error mapping


def test_a_400_is_not_retried_and_carries_mimecast_code_message_and_field(srv):
    fault = {
        "kind": "fail",
        "status": 400,
        "code": "err_validation_null",
        "message": "must not be null",
        "field": "url",
    }
    d = _decoding(srv, fault)
    with pytest.raises(MimecastApiError) as excinfo:
        d.client.decode_url(d.url)
    err = excinfo.value
    assert (err.code, err.field, err.status) == ("err_validation_null", "url", 400)
    assert "missing" in err.message and "url" in err.message
    assert d.statuses() == [400]
    assert d.sleeps == []


def test_a_real_per_item_validation_failure_names_the_field(srv):
    client, sleeps = _client(srv)
    with pytest.raises(MimecastApiError) as excinfo:
        client.decode_url("")
    assert (excinfo.value.code, excinfo.value.field) == ("err_validation_null", "url")
    assert excinfo.value.status == 200  # Mimecast reports per-item failures inside an HTTP 200
    assert sleeps == []


def test_a_fail_entry_inside_a_200_becomes_a_typed_error(srv):
    d = _decoding(srv, {"kind": "fail", "code": "err_managed_url_exists_code", "message": "exists", "count": 1})
    with pytest.raises(MimecastApiError) as excinfo:
        d.client.decode_url(d.url)
    assert excinfo.value.code == "err_managed_url_exists_code"
    assert excinfo.value.errors[0]["message"] == "exists"
    assert excinfo.value.retryable is False
    assert str(excinfo.value) == "This URL is already in the managed URL list."


def test_an_unknown_fail_code_keeps_mimecasts_message_in_plain_words(srv):
    d = _decoding(srv, {"kind": "fail", "code": "err_weird", "message": "Something odd happened", "count": 1})
    with pytest.raises(MimecastApiError) as excinfo:
        d.client.decode_url(d.url)
    assert str(excinfo.value) == "Mimecast refused the request: Something odd happened."


def test_a_non_2xx_meta_status_inside_a_200_becomes_a_typed_error(srv):
    url, _ = _protected_url(srv)
    client, _ = _client(srv)
    srv.faults.add(path=DECODE, kind="meta_status", status=403, count=1)
    with pytest.raises(MimecastAuthError) as excinfo:
        client.decode_url(url)
    assert excinfo.value.status == 403


def test_truncated_json_gives_a_bad_response_error(srv):
    url, _ = _protected_url(srv)
    client, sleeps = _client(srv)
    before = len(calls_to(srv, DECODE))
    srv.faults.add(path=DECODE, kind="truncate", count=1)
    with pytest.raises(MimecastBadResponse) as excinfo:
        client.decode_url(url)
    assert "cut off" in str(excinfo.value)
    assert _statuses(srv, DECODE, before) == [200]
    assert sleeps == []


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b"null", "application/json"),
        (b'{"data": "x"}', "application/json"),
        (b'{"data": [5]}', "application/json"),
        (b'{"meta": {"status": 200}, "data": [', "application/json"),
        (b"<html>oops</html>", "text/html"),
        (b"<html>oops</html>", "application/json"),
        (b'{"meta": {"status": "two hundred"}, "data": [{"url": "x"}]}', "application/json"),
    ],
)
def test_malformed_answers_never_crash(srv, content, content_type):
    url, _ = _protected_url(srv)
    client, _ = _client(srv)
    before = len(calls_to(srv, DECODE))
    srv.faults.add(path=DECODE, kind="raw", status=200, content=content, content_type=content_type, count=1)
    with pytest.raises((MimecastBadResponse, MimecastApiError)):
        client.decode_url(url)
    assert _statuses(srv, DECODE, before) == [200]


def test_an_html_error_page_with_a_4xx_status_becomes_a_plain_error(srv):
    url, _ = _protected_url(srv)
    client, sleeps = _client(srv)
    srv.faults.add(
        path=DECODE, kind="raw", status=403, content="<html><h1>Forbidden</h1></html>", content_type="text/html"
    )
    with pytest.raises(MimecastAuthError) as excinfo:
        client.decode_url(url)
    assert excinfo.value.status == 403
    assert "<html>" not in str(excinfo.value)
    assert sleeps == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_followed(srv, other, status):
    url, _ = _protected_url(srv)
    # The redirect target is another simulator on an allowed loopback host: following it would work,
    # so the only reason no call reaches it is that the client refuses redirects.
    client, _ = _client(srv)
    before, before_other = len(srv.calls), len(other.calls)
    srv.faults.add(path=DECODE, kind="redirect", status=status, location=other.base_url + DECODE, count=1)
    with pytest.raises(MimecastBadResponse) as excinfo:
        client.decode_url(url)
    assert "redirect" in str(excinfo.value)
    assert excinfo.value.status == status
    assert [call_value(c, "path") for c in srv.calls[before:]] == [DECODE]
    assert len(other.calls) == before_other


def test_configured_keys_that_expire_give_an_auth_error_without_a_login(srv):
    url, _ = _protected_url(srv)
    client, sleeps = _client(srv, "keys")
    before = len(srv.calls)
    assert srv.expire_binding(creds().access_key)
    try:
        with pytest.raises(MimecastAuthError) as excinfo:
            client.decode_url(url)
        assert excinfo.value.code == "err_xdk_binding_expired"
        assert [(call_value(c, "path"), call_value(c, "status")) for c in srv.calls[before:]] == [(DECODE, 418)]
        assert sleeps == []
    finally:
        srv.reset()  # makes the static binding valid again


# --------------------------------------------------------------------- non-idempotent writes


def test_creating_an_incident_is_not_retried_after_an_ambiguous_failure(srv):
    m = _delivered_message(srv, 10)
    client, sleeps = _client(srv, read_timeout=0.3)
    before, incidents = len(calls_to(srv, CREATE)), srv.incidents_created
    srv.faults.add(path=CREATE, kind="hang", seconds=1.0, count=1)
    with pytest.raises(MimecastTimeout):
        client.create_remediation_incident(reason="phish", message_id=m.mime_id)
    assert len(calls_to(srv, CREATE)) - before == 1
    assert sleeps == []
    _wait_until_answered(srv, CREATE)
    # Mimecast did create the incident after all: a retry would have made a second one.
    assert srv.incidents_created == incidents + 1

    other_message = _delivered_message(srv, 11)
    before, incidents = len(calls_to(srv, CREATE)), srv.incidents_created
    srv.faults.add(path=CREATE, kind="status", status=500, count=5)
    with pytest.raises(MimecastServerError):
        client.create_remediation_incident(reason="phish", message_id=other_message.mime_id)
    assert _statuses(srv, CREATE, before) == [500]
    assert srv.incidents_created == incidents
    assert sleeps == []


def test_creating_an_incident_is_retried_after_429_because_mimecast_did_not_run_it(srv):
    m = _delivered_message(srv, 12)
    client, sleeps = _client(srv)
    before, incidents = len(calls_to(srv, CREATE)), srv.incidents_created
    srv.faults.add(path=CREATE, kind="rate_limit", reset_ms=10, count=1)
    result = client.create_remediation_incident(reason="phish", message_id=m.mime_id.strip("<>"))
    assert _statuses(srv, CREATE, before) == [429, 200]
    assert len(sleeps) == 1
    assert srv.incidents_created == incidents + 1
    assert result.code == srv.state.incidents[-1]["code"]
    sent = [call_value(c, "json")["data"][0] for c in calls_to(srv, CREATE)[before:]]
    assert sent == [{"reason": "phish", "searchBy": "messageId", "hashOrMessageId": m.mime_id}] * 2


def test_creating_an_incident_is_retried_after_503_because_mimecast_did_not_accept_it(srv):
    m = _delivered_message(srv, 13)
    client, sleeps = _client(srv)
    before, incidents = len(calls_to(srv, CREATE)), srv.incidents_created
    srv.faults.add(path=CREATE, kind="status", status=503, count=1)
    result = client.create_remediation_incident(reason="phish", message_id=m.mime_id)
    assert _statuses(srv, CREATE, before) == [503, 200]
    assert len(sleeps) == 1
    assert srv.incidents_created == incidents + 1
    assert result.code == srv.state.incidents[-1]["code"]


# ---------------------------------------------------------------------------------------- paging


def test_group_members_page_size_is_capped_at_500_and_find_groups_at_100(srv):
    client, _ = _client(srv)
    group = srv.state.groups[0]
    members = client.get_group_members(group["id"], page_size=5000)
    client.find_groups(page_size=5000)
    assert call_value(calls_to(srv, GROUP_MEMBERS)[-1], "json")["meta"]["pagination"]["pageSize"] == 500
    assert call_value(calls_to(srv, FIND_GROUPS)[-1], "json")["meta"]["pagination"]["pageSize"] == 100
    assert [m.email_address for m in members.items] == [m["emailAddress"] for m in group["members"]]


def test_paging_follows_next_and_stops_on_a_missing_next(srv):
    client, _ = _client(srv)
    group = next(g for g in srv.state.groups if 4 < len(g["members"]) < 20)
    before = len(calls_to(srv, GROUP_MEMBERS))
    members = list(client.iter_items(client.get_group_members, group["id"], page_size=3))
    assert [m.email_address for m in members] == [m["emailAddress"] for m in group["members"]]
    sent = [call_value(c, "json")["meta"]["pagination"] for c in calls_to(srv, GROUP_MEMBERS)[before:]]
    assert len(sent) == -(-len(group["members"]) // 3)
    assert "pageToken" not in sent[0]
    tokens = [p["pageToken"] for p in sent[1:]]
    assert all(tokens) and len(set(tokens)) == len(tokens)


def test_paging_stops_on_an_empty_page_even_if_it_carries_a_next_token(srv):
    client, _ = _client(srv)
    cloud = [g for g in srv.state.groups if g["source"] == "cloud"]
    assert len(cloud) > 4
    before = len(calls_to(srv, FIND_GROUPS))
    srv.faults.add(path=FIND_GROUPS, kind="empty_page", token="t3", skip=1, count=1)
    ids = [g.id for g in client.iter_items(client.find_groups, page_size=2)]
    assert ids == [g["id"] for g in cloud[:2]]
    sent = [call_value(c, "json")["meta"]["pagination"] for c in calls_to(srv, FIND_GROUPS)[before:]]
    assert len(sent) == 2
    assert sent[1]["pageToken"] not in ("", "t3")


def test_paging_stops_when_mimecast_repeats_a_token(srv):
    client, _ = _client(srv)
    assert len(srv.state.managed_urls) > 4
    before = len(calls_to(srv, MANAGED_URLS))
    srv.faults.add(path=MANAGED_URLS, kind="repeat_token", skip=1)
    pages = list(client.iter_pages(client.get_managed_urls, page_size=2, max_pages=10))
    assert len(pages) == 2
    assert len(calls_to(srv, MANAGED_URLS)) - before == 2
    assert pages[1].next_token == pages[0].next_token
    assert [u.id for p in pages for u in p.items] == [u["id"] for u in srv.state.managed_urls[:4]]


# ---------------------------------------------------------------------------------- search hash


def _recent_hashes(srv, n):
    year_ago = srv.state.now - timedelta(days=365)
    out = []
    for m in srv.state.messages:
        if m.received >= year_ago:
            for k in m.attachments:
                h = srv.state.attachments[k].sha256
                if h not in out:
                    out.append(h)
        if len(out) >= n:
            return out[:n]
    return out


def test_search_hash_splits_long_lists_into_calls_of_at_most_100_and_merges(srv):
    known = _recent_hashes(srv, 5)
    assert len(known) == 5
    unknown = [f"{i:064x}" for i in range(245)]
    hashes = unknown[:40] + known[:2] + unknown[40:150] + known[2:] + unknown[150:]
    assert len(hashes) == 250
    client, _ = _client(srv)
    before = len(calls_to(srv, SEARCH_HASH))
    result = client.search_hashes(hashes + hashes[:3])
    sent = [call_value(c, "json")["data"][0]["hashes"] for c in calls_to(srv, SEARCH_HASH)[before:]]
    assert [len(chunk) for chunk in sent] == [100, 100, 50]
    assert [h for chunk in sent for h in chunk] == hashes
    assert _statuses(srv, SEARCH_HASH, before) == [200, 200, 200]
    assert len(result.hash_status) == 250
    assert result.detected == known


def test_search_hash_refuses_something_that_is_not_a_hash_before_calling(srv):
    client, _ = _client(srv)
    before = len(srv.calls)
    with pytest.raises(MimecastInvalidRequest):
        client.search_hashes(["not-a-hash"])
    assert len(srv.calls) == before


# ---------------------------------------------------------------------------- message part files


def test_get_message_part_returns_the_file_bytes(srv):
    m = _delivered_message(srv, 20)
    client, _ = _client(srv)
    mailbox = m.recipients[0]
    part = client.get_message_part(m.id, context="DELIVERED", part_type="RFC822", mailbox=mailbox)
    assert part.filename == f"{m.idx:06d}.eml"
    assert part.content_type.startswith("message/rfc822")
    text = part.content.decode("utf-8", "replace")
    assert m.mime_id in text
    assert m.subject in text
    sent = call_value(calls_to(srv, MESSAGE_PART)[-1], "json")
    assert sent["data"][0] == {"id": m.id, "context": "DELIVERED", "type": "RFC822", "mailbox": mailbox}


def test_get_message_part_keeps_only_the_base_name_of_a_hostile_file_name(srv):
    eml = b"From: a@x\r\nSubject: hi\r\n\r\nbody"
    client, _ = _client(srv)
    serve_download(srv, MESSAGE_PART, eml, "../../msg.eml")
    part = client.get_message_part("mid", context="DELIVERED", part_type="RFC822", mailbox="a@x")
    assert part.content == eml
    assert part.filename == "msg.eml"


def test_get_message_part_reports_a_json_fail_envelope_as_an_error(srv):
    client, _ = _client(srv)
    with pytest.raises(MimecastApiError) as excinfo:
        client.get_message_part("eNpNoSuchMessage")
    assert excinfo.value.code == "err_message_not_found"


# -------------------------------------------------------------------------------------- API 2.0


def test_api2_token_is_fetched_once_cached_and_sent_as_bearer(srv):
    url, original = _protected_url(srv)
    client, _ = _client(srv, "oauth")
    before = len(srv.calls)
    assert client.decode_url(url).url == original
    assert client.decode_url(url).url == original
    calls = srv.calls[before:]
    assert [call_value(c, "path") for c in calls] == [TOKEN, DECODE, DECODE]
    c = creds()
    assert call_value(calls[0], "form") == {
        "client_id": c.client_id,
        "client_secret": c.client_secret,
        "grant_type": "client_credentials",
    }
    bearers = [call_value(x, "headers")["Authorization"] for x in calls[1:]]
    token = bearers[0].removeprefix("Bearer ")
    assert bearers == [f"Bearer {token}"] * 2
    assert token in srv.auth.tokens
    assert [call_value(x, "status") for x in calls] == [200, 200, 200]


def test_api2_refreshes_the_token_shortly_before_it_expires(srv):
    url, _ = _protected_url(srv)
    now = [1000.0]
    client = MimecastClient(sim_config(srv, "oauth"), clock=lambda: now[0])
    before = len(srv.calls)
    client.decode_url(url)
    now[0] += 1799 - 59  # inside the 60 s refresh margin of the simulator's expires_in (1799)
    client.decode_url(url)
    calls = srv.calls[before:]
    assert [call_value(c, "path") for c in calls] == [TOKEN, DECODE, TOKEN, DECODE]
    first, second = (call_value(calls[i], "headers")["Authorization"] for i in (1, 3))
    assert first != second
    assert all(call_value(c, "status") == 200 for c in calls)


def test_api2_renews_a_short_lived_token_before_the_server_would_refuse_it(srv):
    url, _ = _protected_url(srv)
    srv.configure(token_lifetime_s=2)
    now = [1000.0]
    client = MimecastClient(sim_config(srv, "oauth", token_refresh_margin=1.0), sleep=Sleeps(), clock=lambda: now[0])
    before = len(srv.calls)
    client.decode_url(url)
    now[0] += 1.2  # past the client's renewal point (2 s - 1 s margin), before the server's expiry
    client.decode_url(url)
    calls = srv.calls[before:]
    assert [call_value(c, "path") for c in calls] == [TOKEN, DECODE, TOKEN, DECODE]
    assert all(call_value(c, "status") == 200 for c in calls)  # never a 401 token_expired


def test_api2_bad_client_credentials_give_an_auth_error(srv):
    client, sleeps = _client(srv, "oauth", client_secret="wrong-secret")
    before = len(srv.calls)
    with pytest.raises(MimecastAuthError) as excinfo:
        client.decode_url("https://a")
    assert excinfo.value.code == "InvalidClientIdentifier"
    assert "client ID or client secret" in str(excinfo.value)
    assert [(call_value(c, "path"), call_value(c, "status")) for c in srv.calls[before:]] == [(TOKEN, 401)]
    assert sleeps == []


def test_siem_batch_downloads_and_parses_gzip_json_lines(srv):
    from mimecast_simulator.siem import events_for

    start = srv.state.now.date() - timedelta(days=2)
    days = [start + timedelta(days=i) for i in range(3)]
    expected = [e["aggregateId"] for d in days for e in events_for(srv.state, "receipt", d)]
    assert expected
    client, _ = _client(srv, "oauth")
    before = len(srv.calls)
    pages = list(client.iter_siem_batches(event_types=["receipt"], start_date=start.isoformat(), page_size=2))
    assert [e["aggregateId"] for p in pages for e in p.events] == expected
    assert all(e["type"] == "receipt" for p in pages for e in p.events)
    assert [len(p.files) for p in pages] == [2, 1]
    assert all(f.size and f.size > 0 for p in pages for f in p.files)
    assert pages[-1].is_caught_up is True and pages[0].is_caught_up is False

    calls = srv.calls[before:]
    batches = [c for c in calls if call_value(c, "path") == SIEM_BATCH]
    downloads = [c for c in calls if call_value(c, "path").startswith(SIEM_FILES)]
    assert all(call_value(c, "method") == "GET" for c in batches + downloads)
    assert call_value(batches[0], "query") == {"type": "receipt", "pageSize": "2", "dateRangeStartsAt": str(start)}
    assert call_value(batches[1], "query")["nextPage"] == pages[0].next_page
    assert len(downloads) == 3
    assert all("Authorization" not in call_value(c, "headers") for c in downloads)
    assert all(call_value(c, "status") == 200 for c in calls)


def test_siem_paging_stops_when_mimecast_repeats_the_next_page_token(srv):
    start = srv.state.now.date() - timedelta(days=2)
    client, _ = _client(srv, "oauth")
    before = len(calls_to(srv, SIEM_BATCH))
    srv.faults.add(path=SIEM_BATCH, kind="repeat_token", skip=1)
    pages = list(
        client.iter_siem_batches(event_types=["receipt"], start_date=start.isoformat(), page_size=1, max_pages=10)
    )
    assert len(pages) == 2
    assert pages[1].next_page == pages[0].next_page
    assert len(calls_to(srv, SIEM_BATCH)) - before == 2


# ------------------------------------------------------------------------ configuration (no server)


def test_config_from_env_reads_every_setting():
    config = MimecastConfig.from_env(
        {
            "MIMECAST_API_VERSION": "2",
            "MIMECAST_BASE_URL": "https://uk-api.services.mimecast.com",
            "MIMECAST_CLIENT_ID": "cid",
            "MIMECAST_CLIENT_SECRET": "cs",
            "MIMECAST_APP_ID": "aid",
            "MIMECAST_APP_KEY": "akey",
            "MIMECAST_ACCESS_KEY": "acc",
            "MIMECAST_SECRET_KEY": "sec",
            "MIMECAST_AUTH_TYPE": "Basic-AD",
            "MIMECAST_USERNAME": "u@x",
            "MIMECAST_PASSWORD": "pw",
            "MIMECAST_VERIFY_SSL": "false",
            "MIMECAST_ALLOWED_HOSTS": "127.0.0.1:8025, localhost",
            "MIMECAST_CONNECT_TIMEOUT": "3",
            "MIMECAST_READ_TIMEOUT": "20",
            "MIMECAST_MAX_RETRIES": "2",
            "MIMECAST_RETRY_BACKOFF_SECONDS": "0.25",
        }
    )
    assert config.api_version == 2
    assert config.base_url == "https://uk-api.services.mimecast.com"
    assert (config.client_id, config.client_secret, config.app_id, config.app_key) == ("cid", "cs", "aid", "akey")
    assert (config.access_key, config.secret_key, config.auth_type) == ("acc", "sec", "Basic-AD")
    assert (config.username, config.password) == ("u@x", "pw")
    assert config.verify_ssl is False
    assert config.allowed_hosts == ("127.0.0.1:8025", "localhost")
    assert (config.connect_timeout, config.read_timeout) == (3.0, 20.0)
    assert (config.max_retries, config.backoff_base) == (2, 0.25)


@pytest.mark.parametrize(
    "env",
    [
        {"MIMECAST_API_VERSION": "3"},
        {"MIMECAST_VERIFY_SSL": "maybe"},
        {"MIMECAST_AUTH_TYPE": "Basic-Foo"},
        {"MIMECAST_RETRY_BACKOFF_SECONDS": "-1"},
        {"MIMECAST_RETRY_BACKOFF_SECONDS": "nan"},
        {"MIMECAST_READ_TIMEOUT": "inf"},
        {"MIMECAST_MAX_RETRIES": "two"},
    ],
)
def test_config_from_env_refuses_nonsense_with_a_plain_message(env):
    with pytest.raises(MimecastConfigError):
        MimecastConfig.from_env(env)


def test_config_repr_never_shows_secrets():
    secrets = ("app_key", "secret_key", "access_key", "password", "client_secret")
    text = repr(MimecastConfig(**{name: f"{name.upper()}-SECRET" for name in secrets}))
    assert "SECRET" not in text


def test_the_client_refuses_incomplete_credentials():
    with pytest.raises(MimecastConfigError):
        MimecastClient(MimecastConfig(api_version=1, base_url="https://eu-api.mimecast.com", app_id="a", app_key="k"))
    with pytest.raises(MimecastConfigError):
        MimecastClient(MimecastConfig(api_version=2, client_id="only-id"))
    with pytest.raises(MimecastConfigError):
        MimecastClient(
            MimecastConfig(
                base_url="https://eu-api.mimecast.com", app_id="a", app_key="k", access_key="x", secret_key="!!notb64"
            )
        )


def test_without_a_discovery_url_discovery_goes_to_the_global_host():
    # api.mimecast.com cannot be reached from here; the flow itself is exercised against the
    # simulator below with discovery_url pointing at a second simulator instance.
    assert DISCOVERY_BASE_URL == "https://api.mimecast.com"
    config = MimecastConfig(app_id="a", app_key="k", username="u@example.com", password="pw", auth_type="Basic-Cloud")
    assert MimecastClient(config)._discovery_base() == DISCOVERY_BASE_URL
    regional = config.with_changes(base_url="https://eu-api.mimecast.com")
    assert MimecastClient(regional)._discovery_base() == DISCOVERY_BASE_URL


# ------------------------------------------------------------------------------- login flow


def test_login_discovers_at_the_discovery_host_then_logs_in_at_the_region(srv, other):
    url, original = _protected_url(srv)
    # `other` plays the global discovery host; its discovery answer names `srv` as the region.
    other.configure(discovery_region_api=srv.base_url)
    # Both simulators are allow-listed by host:port (a bare host would mean port 443 only).
    hosts = tuple(s.base_url.removeprefix("http://") for s in (srv, other))
    client = MimecastClient(sim_config(srv, "login", base_url="", discovery_url=other.base_url, allowed_hosts=hosts))
    assert client.base_url == ""
    before, before_other = len(srv.calls), len(other.calls)
    assert client.decode_url(url).url == original
    assert client.base_url == srv.base_url

    discovery_calls = other.calls[before_other:]
    region_calls = srv.calls[before:]
    assert [call_value(c, "path") for c in discovery_calls] == [DISCOVER]
    assert [call_value(c, "path") for c in region_calls] == [LOGIN, DECODE]
    c = creds()
    assert "Authorization" not in call_value(discovery_calls[0], "headers")
    assert call_value(discovery_calls[0], "json") == {"data": [{"emailAddress": c.username}]}
    assert (
        call_value(region_calls[0], "headers")["Authorization"]
        == "Basic-Cloud " + base64.b64encode(f"{c.username}:{c.password}".encode()).decode()
    )
    # The call is signed with the keys the region's login handed out (not static, configured keys).
    access_key = call_value(region_calls[1], "headers")["Authorization"].removeprefix("MC ").split(":")[0]
    binding = srv.auth.bindings[access_key]
    assert (binding.username, binding.static) == (c.username, False)
    assert [call_value(x, "status") for x in discovery_calls + region_calls] == [200, 200, 200]


@pytest.mark.parametrize(
    "region_api",
    [
        "https://evil.example.com",
        "http://eu-api.mimecast.com",
        "https://eu-api.mimecast.com@evil.com",
        "https://10.0.0.1",
    ],
)
def test_a_discovery_answer_pointing_outside_mimecast_is_refused_before_any_login(srv, region_api):
    srv.configure(discovery_region_api=region_api)
    client = MimecastClient(sim_config(srv, "login"))
    before = len(srv.calls)
    with pytest.raises(MimecastConfigError) as excinfo:
        client.decode_url("https://protect")
    assert "not allowed" in str(excinfo.value)
    assert [(call_value(c, "path"), call_value(c, "status")) for c in srv.calls[before:]] == [(DISCOVER, 200)]


def test_no_call_is_ever_made_with_netrc_credentials(srv, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    c = creds()
    # Control: a plain requests call to the simulator does pick the netrc credentials up.
    before = len(srv.calls)
    with requests.Session() as plain:
        plain.post(srv.base_url + DISCOVER, json={"data": [{"emailAddress": c.username}]}, timeout=10)
    netrc_basic = "Basic " + base64.b64encode(b"netrc-user:netrc-password").decode()
    assert call_value(srv.calls[before], "headers").get("Authorization") == netrc_basic

    # The client's calls without credentials of their own (discovery, SIEM file downloads) stay bare,
    # and the ones with credentials carry only their own.
    url, _ = _protected_url(srv)
    before = len(srv.calls)
    MimecastClient(sim_config(srv, "login")).decode_url(url)
    oauth = MimecastClient(sim_config(srv, "oauth"))
    start = srv.state.now.date() - timedelta(days=2)
    list(oauth.iter_siem_batches(event_types=["receipt"], start_date=start.isoformat(), max_pages=1))
    auth = {}
    for x in srv.calls[before:]:
        path = call_value(x, "path")
        auth[SIEM_FILES if path.startswith(SIEM_FILES) else path] = call_value(x, "headers").get("Authorization")
    assert set(auth) == {DISCOVER, LOGIN, DECODE, TOKEN, SIEM_BATCH, SIEM_FILES}
    assert auth[DISCOVER] is None
    assert auth[SIEM_FILES] is None
    assert auth[TOKEN] is None
    assert auth[LOGIN].startswith("Basic-Cloud ")
    assert auth[DECODE].startswith("MC ")
    assert auth[SIEM_BATCH].startswith("Bearer ")
    assert all(netrc_basic != a for a in auth.values())
