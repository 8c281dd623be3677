"""The message page's verdict banner, its authentication results shown once, and its timeline."""

import re

from investigations.workspace.services import AUTH_BADGES, AuthResult, lookalike_of
from tests.workspace.message_page import load_message_page


def _page(client, message_id):
    response = load_message_page(client, message_id)
    assert response.status_code == 200
    return response


def test_a_phishing_click_let_through_is_a_danger_banner(signed_in, sim):
    # The story's first recipients clicked before the page was classified malicious.
    response = _page(signed_in, sim.state.story["phishing_message_ids"][0])
    verdict = response.context["verdict"]
    assert verdict.tone == "danger"
    assert sim.state.story["phishing_url"] in verdict.malicious_urls
    assert any("clicked a URL now known to be malicious" in f for f in verdict.findings)
    html = response.content.decode()
    banner = re.search(r'<div class="verdict-banner ([^"]+)" id="verdict-banner"', html)
    assert banner and banner.group(1) == "verdict-banner-danger"
    assert "remediate this message</a>" in html
    # The danger click is marked on the timeline too, not shown as a clean (green) event.
    clicks = [e for e in response.context["timeline"] if e.kind == "click"]
    assert clicks and all(e.danger for e in clicks if "allow" in e.text)


def test_a_lookalike_sender_domain_is_named(signed_in, sim):
    response = _page(signed_in, sim.state.story["impersonation_message_ids"][0])
    verdict = response.context["verdict"]
    assert verdict.lookalike == "acme-corp.com"
    assert any("acme-c0rp.com looks like acme-corp.com" in f for f in verdict.findings)


def test_lookalike_rules():
    own = {"acme-corp.com", "acmelabs.io"}
    assert lookalike_of("acme-c0rp.com", own) == "acme-corp.com"
    assert lookalike_of("acme-corp-secure.example", own) == "acme-corp.com"
    assert lookalike_of("acmelabz.io", own) == "acmelabs.io"
    assert lookalike_of("acme-corp.com", own) == ""
    assert lookalike_of("mail.acme-corp.com", own) == ""
    assert lookalike_of("example.org", own) == ""


def _badges(html):
    """(method, result, verdict, badge class) of each authentication badge on the page."""
    return re.findall(
        r'<span class="badge (badge-[a-z]+)" data-verdict="([a-z]+)"[^>]*>([A-Z]+): ([a-z]+)</span>', html
    )


def test_authentication_results_are_shown_once_with_one_colour_scheme(signed_in, sim):
    response = _page(signed_in, sim.state.story["phishing_message_ids"][0])
    html = response.content.decode()
    assert html.count('id="verdicts"') == 1
    badges = _badges(html)
    methods = [method for _, _, method, _ in badges]
    for method in ("SPF", "DKIM", "DMARC"):
        assert methods.count(method) == 1, method
    # Nowhere else on the page is a result given a colour: the headers list only the raw headers.
    assert "verdict-pass" not in html and "verdict-none" not in html and "verdict-fail" not in html
    # The look-alike sender passes SPF and has no DKIM or DMARC: green once, grey twice, no red.
    found = {method: (badge, verdict, result) for badge, verdict, method, result in badges}
    assert found["SPF"] == ("badge-success", "pass", "pass")
    assert found["DKIM"] == ("badge-muted", "none", "none")
    assert found["DMARC"] == ("badge-muted", "none", "none")
    # One colour per verdict, whatever the method.
    assert {verdict: badge for badge, verdict, _, _ in badges} == {
        verdict: AUTH_BADGES[verdict] for _, verdict, _, _ in badges
    }


def test_each_verdict_has_one_colour():
    results = [AuthResult("dkim", "none"), AuthResult("spf", "neutral"), AuthResult("dmarc", "")]
    assert {r.badge for r in results} == {"badge-muted"}
    assert AuthResult("dkim", "pass").badge == "badge-success"
    assert {AuthResult("spf", r).badge for r in ("fail", "softfail", "permerror", "temperror")} == {"badge-failure"}


def test_the_timeline_is_in_time_order_with_delivery_and_clicks(signed_in, sim):
    response = _page(signed_in, sim.state.story["phishing_message_ids"][0])
    timeline = response.context["timeline"]
    times = [e.at for e in timeline if e.at]
    assert times == sorted(times)
    kinds = [e.kind for e in timeline]
    assert "delivery" in kinds and "click" in kinds
    assert kinds.index("delivery") < kinds.index("click")
    assert any(e.text.startswith("Delivered to ") for e in timeline)
    assert '<ol class="timeline" id="timeline-events">' in response.content.decode()


def test_the_message_page_links_its_entities(signed_in, sim):
    response = _page(signed_in, sim.state.story["phishing_message_ids"][0])
    html = response.content.decode()
    domain = sim.state.story["phishing_domain"]
    assert f'href="/entities/domain/{domain}/"' in html
    assert 'href="/entities/sender/no-reply@' in html
    assert 'href="/entities/url/https%3A%2F%2F' in html
    assert 'href="/entities/ip/' in html
