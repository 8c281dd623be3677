"""The dashboards in Chromium: home paints, then the threat charts arrive; every chart is an image with
a name and its numbers a table a keyboard reaches; axe-core finds nothing serious, light or dark."""

import pytest

from investigations.remediation import services as remediation
from tests.browser import crawl
from tests.remediation.support import pending_request

SEVERE = ("serious", "critical")


def _severe(page):
    return [
        f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']]}"
        for v in crawl.axe_violations(page)
        if v["impact"] in SEVERE
    ]


def _context(chromium, live_server, mode):
    context = chromium.new_context(base_url=live_server.url, viewport=crawl.VIEWPORT, color_scheme=mode)
    # axe-core in every document, as the crawl loads it (a script of the test's, not the portal's).
    context.add_init_script(path=str(crawl.AXE_SCRIPT))
    return context


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_the_analysts_home_loads_the_threat_charts_after_painting(chromium, live_server, analyst, sim, mode):
    context = _context(chromium, live_server, mode)
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    crawl.sign_in(page, analyst.get_username())
    page.goto("/")
    chart = page.locator("#chart-url_clicks svg[role=img]")
    chart.wait_for()
    assert page.locator("#home-threats svg[role=img]").count() >= 2
    # The chart's name is its caption; its numbers are a table behind "Show data", a real button.
    assert page.locator("#chart-url_clicks-title").inner_text() == "URL clicks by verdict"
    assert not page.locator("#chart-url_clicks-data").is_visible()
    page.locator("#chart-url_clicks summary").focus()
    page.keyboard.press("Enter")
    assert page.locator("#chart-url_clicks-data").is_visible()
    assert page.locator("#chart-url_clicks-data tbody tr").count() == 7
    assert _severe(page) == []
    # The strict CSP refused nothing: the charts need no inline style or script.
    assert errors == []
    context.close()


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_approver_admin_and_remediation_dashboards_pass_axe(chromium, live_server, personas, sim, mode):
    analyst, approver = personas["analyst"], personas["approver"]
    pending_request(analyst)
    rejected = pending_request(analyst)
    remediation.remediation_request_reject(actor=approver, request_id=rejected.pk, reason="Not malicious after all")
    for persona, path, chart in (
        ("approver", "/", "#chart-queue-ages"),
        ("admin", "/", "#admin-health"),
        ("auditor", "/dashboards/remediation/", "#chart-requests-by-state svg[role=img]"),
    ):
        context = _context(chromium, live_server, mode)
        page = context.new_page()
        crawl.sign_in(page, personas[persona].get_username())
        page.goto(path)
        page.locator(chart).first.wait_for()
        assert _severe(page) == [], (persona, path)
        # No horizontal overflow at 1440 px.
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        context.close()
