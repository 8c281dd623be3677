"""The message page arrives as a shell and its sections load in: the shell waits on no Mimecast call,
each section is checked like the page, a failed call shows in its section, and the calls of the
second round are made once for the banner, the timeline and the related section together."""

import pytest
from django.urls import reverse

from investigations.models import AuditAction, AuditEvent
from tests.workspace.message_page import load_message_page, section_urls

SECTIONS = ["message-detail-section", "message-activity"]
PROBLEM = 'class="error" role="alert"'


def _subject(sim, message_id):
    return next(m.subject for m in sim.state.messages if m.id == message_id)


def test_the_shell_makes_no_call_and_holds_no_mimecast_data(signed_in, sim, phishing_id):
    before = len(sim.calls)
    shell = signed_in.get(reverse("message-detail", args=[phishing_id]))
    assert shell.status_code == 200
    assert len(sim.calls) == before
    html = shell.content.decode()
    assert _subject(sim, phishing_id) not in html
    assert phishing_id in html  # the message's identity, from its URL
    assert not AuditEvent.objects.filter(action=AuditAction.MESSAGE_VIEWED).exists()
    # Both sections load as soon as the shell is on the page; without JavaScript each is a link.
    loads = section_urls(html)
    assert set(loads) == {"message-detail", "related"}
    for url in loads.values():
        assert f'<a href="{url}">Open it on its own page</a>' in html


def test_the_sections_bring_in_what_the_page_showed_and_audit_the_view_once(signed_in, sim, phishing_id):
    page = load_message_page(signed_in, phishing_id)
    detail, related = page.sections["message-detail"].content.decode(), page.sections["related"].content.decode()
    assert _subject(sim, phishing_id) in detail and 'id="header-rows"' in detail
    assert 'hx-swap-oob="true"' in detail  # the head and the headers go to their own places
    assert 'id="verdict-banner" role="status" hx-swap-oob="true"' in related
    assert 'id="timeline" hx-swap-oob="true"' in related and 'id="who-else-table"' in related
    assert "<html" not in detail + related
    assert AuditEvent.objects.filter(action=AuditAction.MESSAGE_VIEWED, target_id=phishing_id).count() == 1


def test_each_log_is_asked_once_for_the_banner_the_timeline_and_the_related_section(signed_in, sim, phishing_id):
    before = len(sim.calls)
    load_message_page(signed_in, phishing_id)
    paths = [c.path for c in sim.calls[before:]]
    assert paths.count("/api/ttp/url/get-logs") == 1
    assert paths.count("/api/ttp/impersonation/get-logs") == 1
    # The first round is asked by each section (no answer is kept between requests), nothing more.
    assert paths.count("/api/message-finder/get-message-info") == 2
    assert paths.count("/api/archive/get-message-detail") == 2


@pytest.mark.parametrize("name", SECTIONS)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_section_refuses_whom_the_page_refuses_before_any_call(client, personas, sim_env, name, htmx):
    url = reverse(name, args=[sim_env.state.story["phishing_message_ids"][0]])
    headers = {"HX-Request": "true"} if htmx else {}
    before = len(sim_env.calls)
    anonymous = client.get(url, headers=headers)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    client.force_login(personas["auditor"])
    assert client.get(url, headers=headers).status_code == 403
    assert len(sim_env.calls) == before


@pytest.mark.parametrize("name", SECTIONS)
def test_a_section_refuses_a_malformed_message_id(signed_in, name):
    assert signed_in.get(f"/messages/%3Cscript%3E/{name.rpartition('-')[2]}/").status_code == 404


def test_a_failed_log_shows_in_the_timeline_and_the_rest_arrives(signed_in, sim, phishing_id, settings):
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_MAX_RETRIES": "0"}
    sim.faults.add(path="/api/ttp/impersonation/get-logs", kind="status", status=500, count=None)
    page = load_message_page(signed_in, phishing_id)
    detail, related = page.sections["message-detail"].content.decode(), page.sections["related"].content.decode()
    assert PROBLEM not in detail
    timeline = related[related.index('id="timeline"') :]
    assert "Part of the timeline is missing:" in timeline
    assert related.count(PROBLEM) == 2  # the timeline's gap and the impersonation card
    assert 'id="verdict-banner" role="status"' in related and 'id="who-else-table"' in related


def test_a_message_mimecast_cannot_answer_shows_the_problem_in_every_section(signed_in, sim, phishing_id, settings):
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_MAX_RETRIES": "0"}
    sim.faults.add(path="/api/message-finder/get-message-info", kind="status", status=500, count=None)
    sim.faults.add(path="/api/archive/get-message-detail", kind="status", status=500, count=None)
    before = len(sim.calls)
    page = load_message_page(signed_in, phishing_id)
    for section in page.sections.values():
        assert PROBLEM in section.content.decode()
    # Nothing of the second round is asked about a message the first round could not read.
    assert {c.path for c in sim.calls[before:] if not c.path.startswith("/api/login/")} == {
        "/api/message-finder/get-message-info",
        "/api/archive/get-message-detail",
    }


@pytest.mark.parametrize("name", SECTIONS)
def test_without_javascript_a_section_is_a_whole_page(signed_in, sim, phishing_id, name):
    response = signed_in.get(reverse(name, args=[phishing_id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "hx-swap-oob" not in html
    marker = 'id="summary"' if name == "message-detail-section" else 'id="who-else-table"'
    assert marker in html


def test_the_header_filter_reaches_the_section_that_shows_the_headers(signed_in, phishing_id):
    page = load_message_page(signed_in, phishing_id, query={"h": "dkim"})
    rows = page.context["detail"].headers
    assert any("dkim" in h.name.lower() or "dkim" in h.value.lower() for h in rows)
    detail = page.sections["message-detail"].content.decode()
    body = detail[detail.index('id="header-rows"') :]
    assert body.count("<tr") < len(rows)
