"""The threat-tool logs at 1440x900 in Chromium: an unbroken SHA-256 or URL no longer pushes the later
columns (Details, Subject, Message) off the page, and each row keeps to one line."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from tests.browser.pages import screenshot, sign_in
from tests.factories import UserFactory

VIEWPORT = {"width": 1440, "height": 900}

MEASURE = """() => {
  const scroll = document.querySelector('.log-table').closest('.scroll');
  const heads = Array.from(document.querySelectorAll('.log-table thead th'))
    .map(th => [th.textContent.trim(), th.getBoundingClientRect().right, th.getBoundingClientRect().width]);
  const rows = Array.from(document.querySelectorAll('.log-table tbody tr'))
    .map(tr => tr.getBoundingClientRect().height);
  const line = parseFloat(getComputedStyle(document.querySelector('.log-table tbody td')).lineHeight) || 20;
  return {scrollWidth: scroll.scrollWidth, clientWidth: scroll.clientWidth, heads, rows, line,
          page: document.scrollingElement.scrollWidth};
}"""


def _query(slug, story):
    return {
        "attachment-logs": {"q": story["macro_sha256"]},
        "url-logs": {"q": story["phishing_domain"]},
        "held": {"window": "30d"},
        "impersonation-logs": {"window": "30d"},
    }[slug]


@pytest.mark.parametrize("slug", ["attachment-logs", "url-logs", "held", "impersonation-logs"])
def test_a_log_fits_the_window_one_line_a_row(chromium, live_server, transactional_db, sim, slug):
    UserFactory(username="alice", roles=["analyst"])
    story = sim.state.story
    page = chromium.new_context(base_url=live_server.url, viewport=VIEWPORT).new_page()
    try:
        sign_in(page, "alice")
        page.goto(f"{reverse(f'tools-{slug}')}?{urlencode(_query(slug, story))}")
        page.wait_for_selector(".log-table tbody tr")
        box = page.evaluate(MEASURE)
        assert box["page"] <= VIEWPORT["width"]
        # The table needs no sideways scroll (the message names each column's width when it does).
        widths = [(h, round(w)) for h, _, w in box["heads"]]
        assert box["scrollWidth"] <= box["clientWidth"], (box["scrollWidth"], widths)
        last, right, _ = box["heads"][-1]
        assert right <= VIEWPORT["width"], f"{last} ends at {right}px"
        assert box["rows"] and max(box["rows"]) < 2 * box["line"] + 12, box["rows"]  # one line a row
        if slug == "attachment-logs":
            # The whole hash is one click away: in the cell's title and on its copy button.
            macro = story["macro_sha256"]
            assert page.locator(f'.log-table button.copy[data-copy="{macro}"]').count() == len(box["rows"])
        screenshot(page, f"tools-{slug}-1440")
    finally:
        page.context.close()
