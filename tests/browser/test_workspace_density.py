"""The workspace at 1440x900 in Chromium: after a 100-row track & trace search at least 20 result rows
are above the fold, and neither the result pages nor the message page are wider than the window."""

from urllib.parse import urlencode

import pytest

from tests.browser.pages import ROWS, hundred_row_search, open_page, screenshot, sign_in
from tests.factories import UserFactory

REASON = "Density check of the workspace pages"
WIDTH, HEIGHT = 1440, 900
ABOVE_THE_FOLD = f"Array.from(document.querySelectorAll('#tt-results tbody tr')).filter(r => r.getBoundingClientRect().bottom <= {HEIGHT}).length"  # noqa: E501
OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"


@pytest.fixture
def wide(chromium, live_server):
    """A 1440x900 window, as an analyst's laptop screen."""
    page = open_page(chromium, live_server.url, {"width": WIDTH, "height": HEIGHT})
    yield page
    page.context.close()


def test_twenty_result_rows_above_the_fold_and_no_page_wider_than_the_window(wide, transactional_db, mimecast_env):
    UserFactory(username="alice", roles=["analyst"])
    sign_in(wide, "alice")

    # Track & trace: the form folds into one line of chips; rows are one line each.
    query = {**hundred_row_search(mimecast_env), "reason": REASON}
    wide.goto("/search/track/?" + urlencode(query))
    wide.wait_for_selector("#tt-results")
    assert wide.locator("#tt-results a.msg-link").count() == ROWS
    assert wide.locator("details.search-panel[open]").count() == 0
    assert "Route: Inbound" in wide.inner_text("#search-chips") or "Route:" in wide.inner_text("#search-chips")
    above = wide.evaluate(ABOVE_THE_FOLD)
    print(f"track & trace rows above the fold at {WIDTH}x{HEIGHT}: {above}")
    assert above >= 20, above
    heights = wide.evaluate("Array.from(document.querySelectorAll('#tt-results tbody tr')).map(r => r.offsetHeight)")
    assert max(heights) <= 32, max(heights)  # one line, whatever the row holds
    assert wide.evaluate(OVERFLOW) <= 0
    screenshot(wide, "workspace-density-track-trace")

    # Archive search and the mailbox view.
    archive = {"text": "invoice", "period": "last_month", "reason": REASON}
    wide.goto("/search/archive/?" + urlencode(archive))
    wide.wait_for_selector("#archive-results")
    assert wide.locator("#archive-results tbody tr").count() == 25
    assert wide.evaluate(OVERFLOW) <= 0
    wide.click("#results a.button")  # more details for every hit: hashes and ids cut, with a copy button
    wide.wait_for_selector("#archive-details-table")
    assert wide.evaluate(OVERFLOW) <= 0
    screenshot(wide, "workspace-density-archive")

    state = mimecast_env.state
    mailbox = state.message_by_id[state.story["phishing_message_ids"][0]].to[0][1]
    wide.goto("/search/mailbox/?" + urlencode({"mailbox": mailbox, "window": "30d", "reason": REASON}))
    wide.wait_for_selector("#mailbox-results")
    assert wide.locator("#mailbox-results tbody tr a.msg-link").count() >= 1
    assert wide.evaluate(OVERFLOW) <= 0
    screenshot(wide, "workspace-density-mailbox")

    # The message page, on every tab.
    wide.goto(f"/messages/{state.story['macro_message_ids'][0]}/")
    wide.wait_for_selector("#summary #verdicts")
    wide.wait_for_selector("#who-else-table", state="attached")
    for tab in ("summary", "delivery", "attachments", "headers", "related"):
        wide.click(f"#tab-{tab}")
        assert wide.is_visible(f"#panel-{tab}")
        assert wide.evaluate(OVERFLOW) <= 0, tab
    screenshot(wide, "workspace-density-message")
    assert wide.console_errors == []
