"""The investigation workspace against the simulator's seeded stories."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from investigations.models import AuditAction, AuditEvent
from tests.workspace.message_page import load_message_page

REASON = "User reported phishing, ticket INC-4242"


def _track(client, **params):
    query = {"window": "7d", "reason": REASON, **params}
    return client.get(reverse("track-trace") + "?" + urlencode(query, doseq=True))


@pytest.fixture
def story(mimecast_env):
    return mimecast_env.state.story


@pytest.fixture
def phishing_id(story):
    return story["phishing_message_ids"][0]


def test_track_and_trace_finds_the_phishing_campaign_by_sender(client, analyst, story):
    client.force_login(analyst)
    response = _track(client, sender=f"no-reply@{story['phishing_domain']}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "45 messages" in page
    assert "Action required: your mailbox password expires today" in page
    assert "<html" in page  # a plain request gets the whole page


def test_an_htmx_search_returns_only_the_results_partial(client, analyst, story):
    client.force_login(analyst)
    response = client.get(
        reverse("track-trace")
        + "?"
        + urlencode({"sender": story["phishing_domain"], "window": "7d", "reason": REASON}),
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert page.lstrip().startswith('<div id="search-region">')
    assert "45 messages" in page


def test_every_search_is_audited_with_its_criteria_and_reason(client, analyst, story):
    client.force_login(analyst)
    _track(client, sender=f"no-reply@{story['phishing_domain']}", ticket="INC-4242")
    event = AuditEvent.objects.get(action=AuditAction.SEARCH_TRACK_TRACE)
    assert event.reason == f"{REASON} [ticket INC-4242]"
    assert event.data["criteria"]["sender"] == f"no-reply@{story['phishing_domain']}"
    assert event.data["results"] == 45


def test_the_search_reason_is_passed_to_mimecast(client, analyst, story, mimecast_env):
    client.force_login(analyst)
    _track(client, sender=story["phishing_domain"])
    call = mimecast_env.calls_to("/api/message-finder/search")[-1]
    assert call.json["data"][0]["searchReason"] == REASON


def test_results_sort_by_a_column_and_the_url_keeps_the_query(client, analyst, story):
    client.force_login(analyst)
    ascending = _track(client, sender=story["phishing_domain"], sort="to", dir="asc").content.decode()
    descending = _track(client, sender=story["phishing_domain"], sort="to", dir="desc").content.decode()
    first_asc = ascending.split('id="tt-results"')[1]
    first_desc = descending.split('id="tt-results"')[1]
    assert first_asc != first_desc
    assert "sort=to" in ascending and "dir=desc" in ascending  # the header link flips the direction


def test_a_missing_reason_is_a_field_error_and_nothing_is_searched(client, analyst, mimecast_env):
    client.force_login(analyst)
    response = client.get(reverse("track-trace") + "?sender=example.com&window=24h&reason=short")
    assert response.status_code == 200
    assert "at least 10 characters" in response.content.decode()
    assert mimecast_env.calls_to("/api/message-finder/search") == []
    assert not AuditEvent.objects.filter(action=AuditAction.SEARCH_TRACK_TRACE).exists()


def test_the_phishing_message_page_shows_verdicts_urls_and_recipients(client, analyst, phishing_id, story):
    client.force_login(analyst)
    response = load_message_page(client, phishing_id)
    page = response.content.decode()
    assert response.status_code == 200
    assert "SPF" in page and "DKIM" in page and "DMARC" in page and "RBL" in page
    assert "dkim=none" in page.lower() or "DKIM=none" in page
    assert story["phishing_url"] in page  # the original URL
    assert "protect-eu.mimecast.com/s/" in page  # and its rewritten form
    assert "Authentication-Results" in page
    assert 'class="auth-header"' in page
    assert AuditEvent.objects.filter(action=AuditAction.MESSAGE_VIEWED, target_id=phishing_id).count() == 1


def test_the_related_section_lists_the_clickers_and_every_campaign_recipient(client, analyst, phishing_id, story):
    client.force_login(analyst)
    detail = load_message_page(client, phishing_id)
    response = detail.sections["related"]
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "(45 recipient copies)" in page
    assert page.count("malicious") >= 3  # the clicks after the page was classified
    related = response.context["related"]
    assert len({c.user_email_address for c in related["clicks"]}) == 9


def test_the_macro_message_shows_its_attachment_hash_and_who_else_got_it(client, analyst, story):
    client.force_login(analyst)
    message_id = story["macro_message_ids"][0]
    detail = load_message_page(client, message_id)
    page = detail.content.decode()
    assert story["macro_sha256"] in page
    assert story["macro_filename"] in page
    related = detail.sections["related"]
    assert len(related.context["same_hash"]) >= 20


def test_a_failing_section_shows_its_error_in_place_and_the_rest_renders(client, analyst, phishing_id, mimecast_env):
    mimecast_env.faults.add(path="/api/archive/get-message-detail", kind="status", status=403, count=None)
    client.force_login(analyst)
    response = load_message_page(client, phishing_id)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Archive | Search | Read" in page  # the archive section's error, in plain words
    assert "Action required: your mailbox password expires today" in page  # the summary still renders


def test_a_rate_limited_search_says_so_in_plain_words(client, analyst, mimecast_env, settings):
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_MAX_RETRIES": "0"}
    mimecast_env.faults.add(path="/api/message-finder/search", kind="rate_limit", reset_ms=7000, count=None)
    client.force_login(analyst)
    page = _track(client, sender="example.com").content.decode()
    assert "Mimecast is rate-limiting us; retrying in 7 s." in page
    assert "err_rate_limit_exceeded" in page or "429" in page
    event = AuditEvent.objects.get(action=AuditAction.SEARCH_TRACK_TRACE)
    assert event.outcome == "failure"


def test_home_shows_the_quick_search_and_the_users_recent_searches(client, analyst, story):
    client.force_login(analyst)
    _track(client, sender=story["phishing_domain"])
    page = client.get(reverse("home")).content.decode()
    assert "data-quick-search" in page
    assert f"sender: {story['phishing_domain']}" in page
    assert REASON in page  # the reason of the search, and it is prefilled for the next one
    assert "45 results" in page


def test_recent_searches_are_only_the_users_own(client, analyst, second_analyst, story):
    client.force_login(second_analyst)
    _track(client, sender=story["phishing_domain"])
    client.force_login(analyst)
    assert story["phishing_domain"] not in client.get(reverse("home")).content.decode()


def test_an_auditor_sees_no_quick_search_on_home(client, auditor):
    client.force_login(auditor)
    page = client.get(reverse("home")).content.decode()
    assert "data-quick-search" not in page
    assert "Track &amp; trace" not in page


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("no-reply@m365-secure-login.com", "/search/track/?sender=no-reply%40m365-secure-login.com&window=7d"),
        ("m365-secure-login.com", "/search/track/?sender=m365-secure-login.com&window=7d"),
        ("192.0.2.150", "/search/track/?sender_ip=192.0.2.150&window=7d"),
        ("<abc@mail.example.com>", "/search/track/?message_id=%3Cabc%40mail.example.com%3E&window=30d"),
        ("invoice overdue", "/search/archive/?text=invoice+overdue"),
    ],
)
def test_the_quick_search_goes_to_the_right_search(client, analyst, typed, expected):
    client.force_login(analyst)
    response = client.get(reverse("quick-search"), {"q": typed})
    assert response.status_code == 302
    assert response["Location"] == expected


def test_the_quick_search_sends_hashes_and_rewritten_urls_to_the_threat_tools(client, analyst):
    client.force_login(analyst)
    sha = "a" * 64
    location = client.get(reverse("quick-search"), {"q": sha})["Location"]
    assert location == reverse("tools-hash-search") + f"?hashes={sha}"
    rewritten = "https://protect-eu.mimecast.com/s/AbCdEf"
    location = client.get(reverse("quick-search"), {"q": rewritten})["Location"]
    assert location == reverse("tools-url-decode") + "?" + urlencode({"urls": rewritten})


def test_an_empty_quick_search_is_a_field_error(client, analyst):
    client.force_login(analyst)
    response = client.get(reverse("quick-search"), {"q": "   "})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()


def test_a_quick_search_too_long_to_pass_on_is_refused_in_words(client, analyst):
    client.force_login(analyst)
    # 2,000 characters is within the field's limit, but as a link each emoji is 12 bytes.
    response = client.get(reverse("quick-search"), {"q": "\U0001f600" * 2000, "reason": REASON})
    assert response.status_code == 200
    body = response.content.decode()
    assert "too long to pass on to the results page (24,0" in body and "at most 4,000" in body
    # Just under the limit it still leads on.
    response = client.get(reverse("quick-search"), {"q": "invoice " + "x" * 1900, "reason": REASON})
    assert response.status_code == 302


def test_archive_search_pages_with_mimecast_tokens(client, analyst, mimecast_env):
    client.force_login(analyst)
    query = {"text": "invoice", "period": "last_month", "scope": "admin", "reason": REASON}
    first = client.get(reverse("archive-search"), query)
    assert first.status_code == 200
    assert len(first.context["rows"]) == 25
    next_url = first.context["next_url"]
    assert "page=" in next_url
    second = client.get(next_url, headers={"HX-Request": "true"})
    assert "<html" not in second.content.decode()
    assert {r.id for r in second.context["rows"]}.isdisjoint({r.id for r in first.context["rows"]})
    assert AuditEvent.objects.filter(action=AuditAction.SEARCH_ARCHIVE).count() == 2


def test_more_details_for_every_hit_are_fetched_within_the_budget(client, analyst, mimecast_env):
    client.force_login(analyst)
    query = {"text": "invoice", "period": "last_month", "reason": REASON}
    first = client.get(reverse("archive-search"), query)
    details = client.get(first.context["details_url"], headers={"HX-Request": "true"})
    page = details.content.decode()
    assert "<html" not in page
    assert page.count("<tr>") >= 25
    assert len(mimecast_env.calls_to("/api/archive/get-message-detail")) == 25
    event = AuditEvent.objects.get(action=AuditAction.SEARCH_ARCHIVE_DETAILS)
    assert len(event.data["message_ids"]) == 25


def test_archive_search_without_criteria_says_what_to_give(client, analyst, mimecast_env):
    client.force_login(analyst)
    response = client.get(reverse("archive-search"), {"reason": REASON})
    assert "Give some text" in response.content.decode()
    assert mimecast_env.calls_to("/api/archive/search") == []


def test_the_mailbox_view_lists_a_users_received_mail(client, analyst, mimecast_env):
    state = mimecast_env.state
    phish = state.message_by_id[state.story["phishing_message_ids"][0]]
    mailbox = phish.to[0][1]
    client.force_login(analyst)
    response = client.get(reverse("mailbox-view"), {"mailbox": mailbox, "window": "7d", "reason": REASON})
    assert response.status_code == 200
    assert phish.id in {r.id for r in response.context["rows"]}
    event = AuditEvent.objects.get(action=AuditAction.SEARCH_MAILBOX)
    assert event.target_id == mailbox


def test_an_unknown_message_is_a_plain_words_404(client, analyst, mimecast_env):
    client.force_login(analyst)
    page = load_message_page(client, "eNpNoSuchMessage0000000000000000")
    assert "could not be found" in page.sections["message-detail"].content.decode()
    # Without JavaScript the section's own page says so with its status.
    response = client.get(reverse("message-detail-section", args=["eNpNoSuchMessage0000000000000000"]))
    assert response.status_code == 404
    assert "could not be found" in response.content.decode()


def test_a_malformed_message_id_in_the_url_is_a_404(client, analyst):
    client.force_login(analyst)
    assert client.get("/messages/%3Cscript%3E/").status_code == 404


def test_without_a_mimecast_connection_the_search_says_so(client, analyst, settings):
    settings.MIMECAST_ENV = {}
    client.force_login(analyst)
    page = _track(client, sender="example.com").content.decode()
    assert 'role="alert"' in page
    assert "Mimecast" in page


def test_the_held_impersonation_message_shows_its_hold_and_hits(client, analyst, story):
    client.force_login(analyst)
    message_id = story["impersonation_message_ids"][0]
    detail = load_message_page(client, message_id)
    page = detail.content.decode()
    assert 'id="held"' in page and "Impersonation Protection" in page
    assert "dana.whitfield.ceo@gmail.com" in page  # the mismatching Reply-To
    related = detail.sections["related"]
    assert len(related.context["related"]["impersonation"]) == 1
    assert "similar_internal_domain" in related.content.decode()


def test_the_related_section_shows_the_safe_scores_of_recipients_and_clickers(client, analyst, phishing_id):
    client.force_login(analyst)
    detail = load_message_page(client, phishing_id)
    related = detail.sections["related"]
    emails = {row["email_address"] for row in related.context["safe_rows"]}
    clickers = {c.user_email_address for c in related.context["related"]["clicks"]}
    assert clickers <= emails
    assert set(detail.context["detail"].recipients) <= emails


def test_the_attachment_offers_pivots_to_hash_search_and_remediation(client, analyst, story):
    from investigations.core.links import portal_url

    client.force_login(analyst)
    page = load_message_page(client, story["macro_message_ids"][0]).html
    assert portal_url("tools-hash-search", hashes=story["macro_sha256"]).replace("&", "&amp;") in page
    assert portal_url("remediation-new", file_hash=story["macro_sha256"]).replace("&", "&amp;") in page


def test_an_address_searched_as_sender_can_be_searched_as_recipient_in_one_click(client, analyst, mimecast_env):
    state = mimecast_env.state
    recipient = state.message_by_id[state.story["phishing_message_ids"][0]].to[0][1]
    client.force_login(analyst)
    first = _track(client, sender=recipient)
    swap_url = first.context["swap_url"]
    assert "recipient=" in swap_url and "sender=" not in swap_url
    second = client.get(swap_url, headers={"HX-Request": "true"})
    assert any(r.subject.startswith("Action required") for r in second.context["rows"])


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 403},
        {"kind": "truncate"},
        {"kind": "meta_status", "status": 500},
        {"kind": "fail", "code": "err_xdk_binding_expired", "message": "AccessKey has expired"},
        {"kind": "rate_limit", "reset_ms": 50},  # each call then waits its reset: keep it short
    ],
    ids=lambda f: f["kind"] + str(f.get("status", "")),
)
def test_no_mimecast_answer_makes_a_workspace_page_fail(client, analyst, mimecast_env, settings, fault, phishing_id):
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_MAX_RETRIES": "0"}
    client.force_login(analyst)
    load_message_page(client, phishing_id)  # sign in to Mimecast before the faults
    mimecast_env.faults.add(path="/api/", count=None, **fault)
    query = {"reason": REASON}
    pages = [
        reverse("track-trace") + "?" + urlencode({"sender": "example.com", **query}),
        reverse("archive-search") + "?" + urlencode({"text": "invoice", **query}),
        reverse("mailbox-view") + "?" + urlencode({"mailbox": "dana.whitfield@acme-corp.com", **query}),
        reverse("message-detail-section", args=[phishing_id]),
        reverse("message-activity", args=[phishing_id]),
        reverse("message-related", args=[phishing_id]) + "?mid=%3Ca%40b%3E&from=a%40b.example&subject=x",
        reverse("archive-details") + f"?id={phishing_id}",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert 'role="alert"' in response.content.decode(), url
    response = client.post(reverse("message-download", args=[phishing_id]), {"reason": REASON})
    if fault["kind"] == "truncate":
        # A raw file cut short under a matching Content-Length is just a shorter file: nothing in
        # HTTP tells it apart, so the download goes through (JSON answers are caught above).
        assert response.status_code == 200
        return
    assert response.status_code in (200, 404, 429)  # never a 5xx: the failure is Mimecast's, shown in place
    assert 'role="alert"' in response.content.decode()
