"""Threat tools against the simulator's seeded stories."""

import csv
import io
import re

import pytest
from django.urls import reverse

from investigations.models import AuditAction, AuditEvent

HASH_PATH = "/api/ttp/remediation/search-hash"


@pytest.fixture
def signed_in(client, analyst):
    client.force_login(analyst)
    return client


def _story(sim):
    return sim.state.story


def _text(response):
    return response.content.decode()


# ---------------------------------------------------------------------------------- hash search


def test_the_macro_attachment_hash_is_detected_with_its_mailboxes(signed_in, sim):
    macro = _story(sim)["macro_sha256"]
    unseen = "ab" * 32
    response = signed_in.post(reverse("tools-hash-search"), {"hashes": f"{macro}\n{unseen}\nnot-a-hash"})
    assert response.status_code == 200
    search = response.context["search"]
    rows = {r.hash: r for r in search.rows}
    assert rows[macro].status == "detected"
    assert len(rows[macro].mailboxes) >= 20
    assert rows[unseen].status == "not_detected"
    assert rows["not-a-hash"].status == "invalid"
    body = _text(response)
    assert "1 detected" in body and "1 not detected" in body and "1 invalid" in body
    assert rows[macro].mailboxes[0] in body
    event = AuditEvent.objects.get(action=AuditAction.SEARCH_HASH)
    assert event.data["hashes"] == [macro, unseen] and event.outcome == "success"


def test_a_hash_pivot_by_get_prefills_and_searches(signed_in, sim):
    macro = _story(sim)["macro_sha256"]
    response = signed_in.get(reverse("tools-hash-search"), {"hashes": macro.upper()})
    assert response.status_code == 200
    assert macro.upper() in _text(response)  # prefilled
    assert response.context["search"].detected == 1


def test_a_thousand_hashes_go_to_mimecast_in_calls_of_at_most_a_hundred(signed_in, sim):
    hashes = [f"{n:064x}" for n in range(1000)]
    response = signed_in.post(reverse("tools-hash-search"), {"hashes": ",".join(hashes)})
    assert response.status_code == 200
    calls = sim.calls_to(HASH_PATH)
    assert len(calls) == 10
    assert all(len(c.json["data"][0]["hashes"]) <= 100 for c in calls)
    assert response.context["search"].not_detected == 1000


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("\n".join(f"{n:064x}" for n in range(1001)), "At most 1,000 hashes"),
        ("xyz not-hex 1234", "None of these is an MD5"),
        ("a" * 10_000, "None of these is an MD5"),
        ("abc\x1bdef", "control characters"),
        ("", "required"),
        ("a" * 200_001, "at most 200000"),
    ],
)
def test_bad_hash_input_is_a_field_error_and_nothing_is_sent(signed_in, sim, value, message):
    response = signed_in.post(reverse("tools-hash-search"), {"hashes": value})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["hashes"])
    assert sim.calls_to(HASH_PATH) == []


def test_a_failing_hash_call_shows_its_error_in_place(signed_in, sim):
    sim.faults.add(path=HASH_PATH, kind="status", status=503, count=None)
    response = signed_in.post(reverse("tools-hash-search"), {"hashes": "ab" * 32})
    assert response.status_code == 200
    assert "Mimecast had an internal problem" in _text(response)
    assert AuditEvent.objects.get(action=AuditAction.SEARCH_HASH).outcome == "failure"


# ----------------------------------------------------------------------------------- URL decode


def test_the_phishing_urls_decode_and_a_foreign_url_says_why_not(signed_in, sim):
    story = _story(sim)
    message = sim.state.message_by_id[story["phishing_message_ids"][0]]
    rewritten = message.urls[0][1]
    response = signed_in.post(
        reverse("tools-url-decode"), {"urls": f"{rewritten}\nhttps://example.org/plain\njavascript:alert(1)"}
    )
    assert response.status_code == 200
    rows = {r.url: r for r in response.context["rows"]}
    assert rows[rewritten].decoded == story["phishing_url"]
    assert rows["https://example.org/plain"].problem is not None
    assert rows["javascript:alert(1)"].invalid
    body = _text(response)
    assert story["phishing_url"].replace("&", "&amp;") in body
    assert response.context["decoded_count"] == 1
    assert AuditEvent.objects.get(action=AuditAction.SEARCH_URL_DECODE).data["decoded"] == 1


def test_url_decode_prefills_from_the_query_string(signed_in, sim):
    message = sim.state.message_by_id[_story(sim)["phishing_message_ids"][0]]
    response = signed_in.get(reverse("tools-url-decode"), {"urls": message.urls[0][1]})
    assert response.context["rows"][0].decoded == _story(sim)["phishing_url"]


@pytest.mark.parametrize(
    "value", ["", "not a url", "\x00http://a.b/", "\n".join(f"https://a.b/{n}" for n in range(101))]
)
def test_bad_url_input_is_a_field_error(signed_in, sim, value):
    response = signed_in.post(reverse("tools-url-decode"), {"urls": value})
    assert response.status_code == 200
    assert response.context["form"].errors["urls"]


# ------------------------------------------------------------------------------------ the logs


def test_the_phishing_clicks_show_in_the_url_logs_with_links_to_their_messages(signed_in, sim):
    story = _story(sim)
    response = signed_in.get(reverse("tools-url-logs"), {"window": "7d", "q": story["phishing_domain"]})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert len(rows) == 9  # nine recipients clicked
    body = _text(response)
    assert "malicious" in body and "Phishing &amp; Fraud" in body
    clicked = {sim.state.message_by_id[i].to[0][1] for i in story["phishing_message_ids"][:9]}
    assert all(address in body for address in clicked)
    assert all(row["message_href"].startswith(reverse("track-trace")) for row in rows)
    event = AuditEvent.objects.get(action=AuditAction.SEARCH_URL_LOGS)
    assert event.data["criteria"]["q"] == story["phishing_domain"]


def test_the_macro_attachment_verdicts_show_in_the_attachment_logs(signed_in, sim):
    macro = _story(sim)["macro_sha256"]
    response = signed_in.get(reverse("tools-attachment-logs"), {"window": "7d", "q": macro})
    rows = response.context["rows"]
    assert len(rows) == 30
    body = _text(response)
    assert "sandbox, hold" in body and _story(sim)["c2_domain"] in body
    assert reverse("tools-hash-search") + "?hashes=" + macro in body


def test_the_impersonation_attempt_shows_in_the_impersonation_logs(signed_in, sim):
    response = signed_in.get(
        reverse("tools-impersonation-logs"), {"window": "7d", "tagged": "yes", "search_field": "all", "query": ""}
    )
    assert response.status_code == 200
    body = _text(response)
    assert "acme-c0rp.com" in body
    assert response.context["rows"] and all(r["message_href"] for r in response.context["rows"])


def test_held_messages_link_to_the_message_detail(signed_in, sim):
    response = signed_in.get(reverse("tools-held"), {"window": "7d"})
    rows = response.context["rows"]
    assert rows
    held_ids = {m.id for m in sim.state.messages if m.status == "held"}
    assert {r["message_id"] for r in rows} <= held_ids
    assert rows[0]["message_href"] == reverse("message-detail", kwargs={"message_id": rows[0]["message_id"]})


def test_release_logs_rejections_and_managed_urls_answer(signed_in, sim):
    releases = signed_in.get(reverse("tools-release-logs"), {"window": "30d"})
    assert releases.context["rows"] and "released" in _text(releases)
    rejections = signed_in.get(reverse("tools-rejections"), {"window": "7d", "search_field": "all", "value": "RBL"})
    assert rejections.context["rows"] and "IP found in RBL" in _text(rejections)
    managed = signed_in.get(reverse("tools-managed-urls"), {"domain_or_url": "prize"})
    assert "prize-claims.example" in _text(managed)
    assert len(managed.context["rows"]) == 1


def test_rejection_logs_refuse_a_window_over_seven_days(signed_in, sim):
    response = signed_in.get(
        reverse("tools-rejections"), {"window": "custom", "start": "2020-01-01T00:00", "end": "2020-01-20T00:00"}
    )
    assert response.status_code == 200
    assert "at most 7 days" in " ".join(response.context["form"].errors["start"])
    assert sim.calls_to("/api/gateway/get-rejections") == []


@pytest.mark.parametrize(
    "params",
    [
        {"window": "custom", "start": "2026-13-45T99:99"},
        {"window": "custom", "start": "yesterday"},
        {"window": "custom"},
        {"window": "forever"},
        {"window": "custom", "start": "2026-01-02T00:00", "end": "2026-01-01T00:00"},
        {"window": "custom", "start": "2024-01-01T00:00", "end": "2024-03-01T00:00"},
        {"q": "x" * 10_000},
        {"q": "bad\x07bell"},
        {"route": "sideways"},
        {"page": "<script>"},
    ],
)
def test_bad_log_filters_are_field_errors_never_a_500(signed_in, sim, params):
    response = signed_in.get(reverse("tools-url-logs"), params)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["result"] is None


def test_automatic_incidents_are_listed_and_open_their_detail(signed_in, sim):
    response = signed_in.get(reverse("tools-incidents"), {"window": "30d", "type": "automatic"})
    rows = response.context["rows"]
    assert len(rows) == 1
    body = _text(response)
    assert "Mimecast Security Team" in body and "-A" in body
    link = re.search(r'href="(/tools/incident/\?id=[^"]+)"', body).group(1)
    detail = signed_in.get(link.replace("&amp;", "&"))
    assert detail.status_code == 200
    assert "DocuSign-themed credential phishing" in _text(detail)
    assert "docusign-review.example" in _text(detail)
    assert AuditEvent.objects.filter(action=AuditAction.SEARCH_INCIDENT).count() == 1


def test_an_unknown_incident_says_so_in_place(signed_in, sim):
    response = signed_in.get(reverse("tools-incident"), {"id": "no-such-incident"})
    assert response.status_code == 200
    assert response.context["problem"] is not None
    assert 'role="alert"' in _text(response)


def test_paging_uses_mimecast_tokens(signed_in, sim):
    first = signed_in.get(reverse("tools-attachment-logs"), {"window": "30d"})
    assert len(first.context["rows"]) == 100
    assert first.context["next_url"]
    second = signed_in.get(first.context["next_url"])
    assert second.status_code == 200 and second.context["rows"]
    assert second.context["rows"][0]["cells"] != first.context["rows"][0]["cells"]
    # Turning a page is not a new search: one audit event for the search.
    assert AuditEvent.objects.filter(action=AuditAction.SEARCH_ATTACHMENT_LOGS).count() == 1


# ------------------------------------------------------------------------------ Mimecast faults


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"kind": "status", "status": 503}, "Mimecast had an internal problem"),
        ({"kind": "rate_limit", "reset_ms": 200}, "rate-limiting us"),
        ({"kind": "truncate"}, "cut off or is not valid JSON"),
        ({"kind": "status", "status": 403}, "Mimecast"),
    ],
)
def test_a_mimecast_fault_shows_a_plain_error_in_place(signed_in, sim, fault, words):
    sim.faults.add(path="/api/ttp/url/get-logs", count=None, **fault)
    response = signed_in.get(reverse("tools-url-logs"), {"window": "7d"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = _text(response)
    assert words in body
    assert 'role="alert"' in body
    assert "<html" not in body
    assert AuditEvent.objects.get(action=AuditAction.SEARCH_URL_LOGS).outcome == "failure"


def test_a_fault_on_a_later_page_of_a_filtered_scan_keeps_what_was_found(signed_in, sim):
    sim.faults.add(path="/api/ttp/attachment/get-logs", kind="status", status=503, count=None, skip=1)
    response = signed_in.get(reverse("tools-attachment-logs"), {"window": "30d", "q": "zzz-no-such-thing"})
    assert response.status_code == 200
    assert "Mimecast had an internal problem" in _text(response)


# --------------------------------------------------------------------------------- htmx partials


@pytest.mark.parametrize(
    ("url_name", "params"),
    [
        ("tools-url-logs", {"window": "24h"}),
        ("tools-managed-urls", {}),
        ("tools-incidents", {}),
        ("tools-hash-search", {"hashes": "ab" * 32}),
        ("tools-url-decode", {"urls": "https://example.org/"}),
        ("tools-web-security", {}),
    ],
)
def test_htmx_gets_the_partial_and_a_plain_request_the_whole_page(signed_in, sim, url_name, params):
    whole = _text(signed_in.get(reverse(url_name), params))
    partial = _text(signed_in.get(reverse(url_name), params, headers={"HX-Request": "true"}))
    assert "<html" in whole and 'id="main"' in whole
    assert "<html" not in partial and 'id="main"' not in partial
    assert "<form" in partial


# ----------------------------------------------------------------------------------------- CSV


def test_the_csv_export_streams_and_round_trips(signed_in, sim):
    story = _story(sim)
    params = {"window": "7d", "q": story["phishing_domain"]}
    page = signed_in.get(reverse("tools-url-logs"), params)
    response = signed_in.get(reverse("tools-url-logs-export"), params)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="url-logs-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["Date", "User"] and header[-1] == "Message id"
    assert len(body) == len(page.context["rows"]) == 9
    shown = [[c["text"] for c in r["cells"]] + [r["message_id"]] for r in page.context["rows"]]
    assert body == shown
    event = AuditEvent.objects.get(action=AuditAction.TOOLS_EXPORTED)
    assert event.data["kind"] == "url-logs" and event.data["criteria"]["q"] == story["phishing_domain"]


def test_a_csv_cell_that_looks_like_a_formula_is_defused():
    from investigations.core.csv import csv_safe

    assert csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_safe("-5") == "-5"
    assert csv_safe("plain") == "plain"


def test_an_export_whose_first_call_fails_is_a_plain_error_page(signed_in, sim):
    sim.faults.add(path="/api/ttp/url/get-logs", kind="status", status=503, count=None)
    response = signed_in.get(reverse("tools-url-logs-export"), {"window": "7d"})
    assert response.status_code == 200  # an HTML page saying so, not a 5xx (the portal worked)
    assert "Mimecast had an internal problem" in _text(response)
    assert "Nothing was exported" in _text(response)


def test_an_export_that_fails_midway_ends_with_a_line_saying_so(signed_in, sim):
    sim.faults.add(path="/api/ttp/attachment/get-logs", kind="status", status=503, count=None, skip=1)
    response = signed_in.get(reverse("tools-attachment-logs-export"), {"window": "30d"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 102  # header, one page of 100, the closing note
    assert rows[-1][0].startswith("# export stopped early: Mimecast had an internal problem")
