"""axe-core on every page each persona reaches, in light and in dark mode: no serious or critical
violation. The same visits keep a screenshot of every page for tests/artifacts/index.html.

The portal runs against the simulator seeded as the demo seeds it (seed 1, API 2.0), with a case, a
request waiting for approval and one rejected, so the lists and the pages behind them have rows.
The crawl starts from every page route that takes no parameter and from a search of each kind, and
follows the links it finds (tests/browser/crawl.py)."""

from urllib.parse import urlencode

from django.urls import reverse

from investigations.cases.services import case_create
from investigations.remediation import services as remediation
from tests.browser import crawl
from tests.remediation.support import pending_request
from tests.routes import PUBLIC_ROUTES, page_routes

REASON = "Accessibility crawl of every page, ticket INC-4242"
ROLES = ("analyst", "approver", "auditor", "admin")  # the personas of tests/conftest.py, by role


def _route_starts():
    """Every page route that takes no parameter (the menus link most of them, not all)."""
    return [
        reverse(name)
        for name, entry in page_routes()
        if crawl._is_page(name) and name not in PUBLIC_ROUTES and not entry.pattern.converters
    ]


def _search_starts(simulator):
    """A search of each kind with results: the result tables, and the message pages they link."""
    story = simulator.state.story
    mailbox = simulator.state.mailboxes[0].email
    searches = [
        ("track-trace", {"sender": story["phishing_domain"], "window": "7d"}),
        ("quick-search", {"q": story["phishing_domain"]}),
        ("archive-search", {"text": "invoice"}),
        ("mailbox-view", {"mailbox": mailbox, "window": "30d"}),
        ("awareness-user", {"email": mailbox}),
    ]
    return [f"{reverse(name)}?{urlencode({**query, 'reason': REASON})}" for name, query in searches]


def _stage(personas):
    """What the demo's first hour leaves behind: a case, a request to decide, one decided."""
    analyst, approver = personas["analyst"], personas["approver"]
    case_create(actor=analyst, values={"title": "Credential phishing wave", "reason": REASON, "ticket_id": "INC-4242"})
    pending_request(analyst)
    rejected = pending_request(analyst)
    remediation.remediation_request_reject(actor=approver, request_id=rejected.pk, reason="Not malicious after all")


def test_every_page_every_persona_reaches_has_no_serious_or_critical_violation_light_or_dark(
    chromium, live_server, personas, sim_v2
):
    assert crawl.AXE_SCRIPT.exists(), "node_modules/axe-core is missing: npm ci --ignore-scripts (make test does it)"
    _stage(personas)
    starts = _search_starts(sim_v2) + _route_starts()
    crawl.clear_screenshots()
    visits = crawl.crawl(chromium, live_server.url, "signed-out", None, [reverse("login")])
    for role in ROLES:
        visits += crawl.crawl(chromium, live_server.url, role, personas[role].get_username(), starts)
    crawl.write_report(visits)
    crawl.write_index(visits)

    checked = [v for v in visits if v.screenshot]
    for role in ["signed-out", *ROLES]:
        reached = {v.slug for v in checked if v.role == role}
        # The crawl really went through the portal: each persona's menus and lists lead to many pages.
        assert len(reached) >= (1 if role == "signed-out" else 8), f"{role} reached only {sorted(reached)}"
        assert {v.slug for v in checked if v.role == role and v.mode == "dark"} == reached
    broken = [f"{v.role} {v.mode} {v.url}: {v.status} {v.note}" for v in visits if v.status >= 500]
    assert broken == [], "\n".join(broken)
    severe = crawl.severe_report(visits)
    assert severe == [], f"{len(severe)} serious or critical axe-core violations:\n" + "\n".join(severe)
