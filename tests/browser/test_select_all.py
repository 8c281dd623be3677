"""In Chromium, the select-all checkbox of a result list ticks every row and clears them again, and a
row unticked by hand leaves it showing "some"."""

from urllib.parse import urlencode

from tests.browser.pages import sign_in
from tests.factories import UserFactory

REASON = "User reported a credential phish, INC-7001"


def test_select_all_ticks_every_row_of_track_and_trace(page, transactional_db, mimecast_env):
    UserFactory(username="alice", roles=["analyst"])
    domain = mimecast_env.state.story["phishing_domain"]
    sign_in(page, "alice")
    page.goto("/search/track/?" + urlencode({"sender": domain, "window": "7d", "reason": REASON}))
    rows = page.locator("#tt-results input[data-select-row]")
    header = page.locator("#tt-results input[data-select-all]")
    assert rows.count() == 45
    assert all(not box.is_checked() for box in rows.all())

    header.check()
    assert all(box.is_checked() for box in rows.all())

    rows.nth(3).uncheck()
    assert page.evaluate("document.querySelector('#tt-results [data-select-all]').indeterminate")
    assert not header.is_checked()

    header.check()
    assert all(box.is_checked() for box in rows.all())
    header.uncheck()
    assert all(not box.is_checked() for box in rows.all())
    assert page.console_errors == []
